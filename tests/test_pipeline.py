"""`medforget run` end to end on the tiny model: every cell, the leaderboard, and resuming after a kill."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from medforget_data.cli import main
from medforget_data.constants import LEVELS, MEMORISATION_TARGETS, TASKS
from medforget_data.methods import METHOD_NAMES
from medforget_data.scoring.results import read_results

MINI_RUN = [
    "run",
    "--size",
    "mini",
    "--model",
    "tiny",
    "--epochs",
    "4",
    "--max-new-tokens",
    "12",
    "--sweep",
    "none",
]


@pytest.fixture(scope="module")
def mini_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "mini"
    assert main([*MINI_RUN, "--out", str(out)]) == 0
    return out


def leaderboard_rows(run: Path) -> list[dict[str, str]]:
    with (run / "leaderboard" / "leaderboard.csv").open(encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def test_mini_run_fills_every_cell_and_the_leaderboard(mini_run: Path) -> None:
    rows = leaderboard_rows(mini_run)
    assert sorted((r["level"], r["method"]) for r in rows) == sorted(
        (level, method) for level in LEVELS for method in METHOD_NAMES
    )
    for row in rows:
        results = read_results(mini_run / "results" / row["level"] / f"{row['method']}.json")
        assert results.level == row["level"] and results.metadata.method == row["method"]
        # the gap column is the mean over tasks of retain − forget, recomputed from the scores
        gaps = [results.scores["retain"][t].mean - results.scores["forget"][t].mean for t in TASKS]
        assert float(row["gap"]) == pytest.approx(sum(gaps) / len(gaps))
        assert set(results.timings) == {"unlearn", "generate", "score", "attack"}
        reconstruction = results.attacks.reconstruction
        assert set(reconstruction.recovery) == set(reconstruction.depths)
        # forget quality compares with the oracle: every row has it except the oracle itself
        assert (results.attacks.forget_quality is not None) == (row["method"] != "oracle")
        holdout = results.utility["holdout"]
        if row["method"] == "vanilla" and holdout.reference > 0:
            assert holdout.relative == pytest.approx(1.0)
    page = (mini_run / "leaderboard" / "index.html").read_text(encoding="utf-8")
    for level in LEVELS:
        assert (mini_run / "leaderboard" / f"leakage_{level}.png").stat().st_size > 0
        assert f"leakage_{level}.png" in page
    timings = json.loads((mini_run / "timings.json").read_text(encoding="utf-8"))
    assert set(timings["totals"]) == {"train", "unlearn", "generate", "score", "attack"}
    # 1 vanilla + 4 oracles trained, 4 levels × 8 methods scored
    assert len(timings["stages"]) == 5 + len(LEVELS) * len(METHOD_NAMES)


def test_mini_run_page_in_a_real_browser(mini_run: Path, tmp_path: Path, browser) -> None:
    """The tiny model trained 4 epochs has not memorised train: the page says so, ranks nothing, and
    still shows every level's two tables with a row per method; a screenshot is written."""
    from selenium.webdriver.common.by import By

    vanilla = read_results(mini_run / "results" / "patient" / "vanilla.json")
    forget_em = [i.exact_match for i in vanilla.items if i.split == "forget" and i.task == "cloze"]
    assert sum(forget_em) / len(forget_em) < MEMORISATION_TARGETS["cloze"]  # really not memorised
    browser.set_window_size(1400, 1000)
    browser.get((mini_run / "leaderboard" / "index.html").as_uri())
    banner = browser.find_element(By.ID, "banner")
    assert banner.is_displayed() and banner.text.startswith("Not ranked: vanilla has not memorised train")
    assert "patient: forget generation ROUGE-L" in banner.text and "cloze EM" in banner.text
    assert not browser.find_elements(By.ID, "ranking") and not browser.find_elements(
        By.CSS_SELECTOR, "td.best"
    )
    for level in LEVELS:
        for kind in ("summary", "scores"):
            table = browser.find_element(By.ID, f"{kind}-{level}")
            names = [
                row.find_element(By.TAG_NAME, "td").text for row in table.find_elements(By.TAG_NAME, "tr")[1:]
            ]
            assert sorted(names) == sorted(METHOD_NAMES), (kind, level)
        gap = browser.find_element(By.CSS_SELECTOR, f"#summary-{level} tr:nth-child(2) td:nth-child(2)")
        assert gap.find_element(By.CLASS_NAME, "ci").text.startswith("[")  # the gap's bootstrap interval
    link = browser.find_element(By.ID, "download")
    assert link.get_attribute("href").endswith("/leaderboard/leaderboard.csv")
    shot = tmp_path / "leaderboard.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes().startswith(b"\x89PNG") and shot.stat().st_size > 20_000


def _run_in_subprocess(args: list[str]) -> subprocess.Popen:
    code = "import sys; from medforget_data.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )


def _finished(state: Path) -> dict[str, int]:
    """Done-markers and their modification times."""
    return {
        path.name: path.stat().st_mtime_ns
        for path in state.glob("*.json")
        if json.loads(path.read_text(encoding="utf-8"))["done"]
    }


def test_killed_run_resumes_without_redoing_finished_cells(tmp_path: Path, mini_run: Path) -> None:
    out = tmp_path / "run"
    args = [*MINI_RUN, "--levels", "patient", "section", "--methods", "ga", "chip", "--out", str(out)]
    process = _run_in_subprocess(args)
    # killed in the second level, right after its oracle cell
    oracle_marker = out / "state" / "cell-section-oracle.json"
    deadline = time.monotonic() + 600
    while not (oracle_marker.is_file() and json.loads(oracle_marker.read_text())["done"]):
        assert process.poll() is None, "the run ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    process.kill()
    process.wait()
    finished = _finished(out / "state")
    patient_cells = {f"cell-patient-{m}.json" for m in ("vanilla", "oracle", "ga", "chip")}
    assert {"model-vanilla.json", "model-oracle-patient.json", "model-oracle-section.json"} <= set(finished)
    assert patient_cells | {"cell-section-oracle.json"} <= set(finished)
    # the finished level is already on the leaderboard; the interrupted one is not
    assert {(r["level"], r["method"]) for r in leaderboard_rows(out)} == {
        ("patient", m) for m in ("vanilla", "oracle", "ga", "chip")
    }

    assert main(args) == 0
    after = _finished(out / "state")
    assert all(after[name] == mtime for name, mtime in finished.items())  # nothing finished was redone
    assert len(after) == 3 + 2 * 4

    # the resumed run's rows equal the same cells of the uninterrupted run (wall times aside)
    def comparable(rows: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, str]]:
        return {
            (r["level"], r["method"]): {k: v for k, v in r.items() if k != "seconds"}
            for r in rows
            if r["level"] in ("patient", "section") and r["method"] in ("vanilla", "oracle", "ga", "chip")
        }

    assert comparable(leaderboard_rows(out)) == comparable(leaderboard_rows(mini_run))


RAY_CELLS = [
    (level, method) for level in ("patient", "section") for method in ("vanilla", "oracle", "ga", "chip")
]
RAY_RUN = [*MINI_RUN, "--levels", "patient", "section", "--methods", "ga", "chip"]


def results_without_timings(path: Path) -> str:
    """A results file as JSON text, its wall times (the one part two executors may differ in) removed."""
    data = json.loads(path.read_text(encoding="utf-8"))
    data.pop("timings")
    return json.dumps(data, sort_keys=True)


def test_the_ray_executor_gives_the_in_process_results(tmp_path: Path, mini_run: Path) -> None:
    """Every step a task on a local two-CPU Ray cluster, two at a time with a core each: the results
    equal the in-process run's, byte for byte once the wall times are set aside."""
    ray = pytest.importorskip("ray")
    out = tmp_path / "ray"
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        assert main([*RAY_RUN, "--executor", "ray", "--out", str(out)]) == 0
    finally:
        ray.shutdown()
    for level, method in RAY_CELLS:
        relative = Path("results") / level / f"{method}.json"
        assert results_without_timings(out / relative) == results_without_timings(mini_run / relative)
        assert (out / "submissions" / level / f"{method}.jsonl").read_bytes() == (
            mini_run / "submissions" / level / f"{method}.jsonl"
        ).read_bytes()
    assert {(r["level"], r["method"]) for r in leaderboard_rows(out)} == set(RAY_CELLS)
    for name in ("vanilla", "oracle-patient", "oracle-section"):
        on_ray = load_file(out / "models" / name / "model.safetensors")
        in_process = load_file(mini_run / "models" / name / "model.safetensors")
        assert all(torch.equal(on_ray[k], in_process[k]) for k in in_process), name


def test_a_killed_ray_run_is_finished_by_the_local_executor(tmp_path: Path, mini_run: Path) -> None:
    pytest.importorskip("ray")
    out = tmp_path / "run"
    args = [*MINI_RUN, "--levels", "patient", "--methods", "ga", "chip", "--out", str(out)]
    code = "import sys; from medforget_data.cli import main; sys.exit(main(sys.argv[1:]))"
    # its own session: the kill takes the Ray cluster the run started with it
    process = subprocess.Popen(
        [sys.executable, "-c", code, *args, "--executor", "ray"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    marker = out / "state" / "cell-patient-vanilla.json"
    deadline = time.monotonic() + 600
    try:
        while not (marker.is_file() and json.loads(marker.read_text())["done"]):
            assert process.poll() is None, "the run ended before it could be interrupted"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    finished = _finished(out / "state")
    assert {"model-vanilla.json", "model-oracle-patient.json", "cell-patient-vanilla.json"} <= set(finished)
    assert len(finished) < 2 + 4  # interrupted

    assert main(args) == 0  # the local executor, the same folder
    after = _finished(out / "state")
    assert all(after[name] == mtime for name, mtime in finished.items())  # nothing finished was redone
    assert len(after) == 2 + 4  # vanilla, the oracle and every cell (tiny has no base)
    for level, method in RAY_CELLS[:4]:
        relative = Path("results") / level / f"{method}.json"
        assert results_without_timings(out / relative) == results_without_timings(mini_run / relative)


def test_bad_run_options_fail_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", "--size", "mini", "--model", "tiny", "--levels", "hospital", "--out", str(out)]) == 2
    assert "unknown level 'hospital'" in capsys.readouterr().err
    assert main(["run", "--size", "mini", "--model", "huge", "--out", str(out)]) == 2
    assert "unknown model config 'huge'" in capsys.readouterr().err
    assert main(["run", "--size", "mini", "--methods", "oracle", "--out", str(out)]) == 2
    assert "unknown method 'oracle'" in capsys.readouterr().err
    assert not out.exists()


def test_a_run_folder_in_use_is_refused_and_a_stale_lock_is_taken(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from medforget_data.pipeline.state import run_lock

    folder = tmp_path / "run"
    with run_lock(folder):  # this process holds it, as a live `medforget run` would
        assert main(["run", "--size", "mini", "--model", "tiny", "--out", str(folder)]) == 2
        assert f"{folder} is in use by another medforget run (pid " in capsys.readouterr().err
    assert not (folder / "run.lock").exists()
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True)
    (folder / "run.lock").write_text(finished.stdout.decode().strip())  # its process has exited
    with run_lock(folder):
        assert (folder / "run.lock").read_text() == str(os.getpid())


def test_a_swept_run_records_every_point_and_shows_the_chosen_one(
    synthetic_mini_dir: Path, tmp_path: Path
) -> None:
    from medforget_data.scoring.selection import select_at_floor, select_oracle_match

    settings = tmp_path / "methods.yaml"  # the user's own grids (YAML), small enough for a test
    settings.write_text(
        "graddiff:\n  epochs: 2\n  grid:\n    fields: {lr: [0.001, 0.01]}\n    every_epoch: true\n"
        "    scales: [0.5, 1.0]\nchip:\n  layer_fraction: 0.5\n  grid:\n    fields: {top_fraction: [1.0]}\n"
        "    scales: [1.0, 2.0]\n",
        encoding="utf-8",
    )
    out = tmp_path / "run"
    args = [
        "run",
        "--dataset",
        str(synthetic_mini_dir),
        "--model",
        "tiny",
        "--epochs",
        "3",
        "--levels",
        "patient",
    ]
    args += ["--methods", "graddiff", "chip", "--max-new-tokens", "4", "--utility-floor", "0.5"]
    assert main([*args, "--method-config", str(settings), "--out", str(out)]) == 0
    board = (out / "leaderboard" / "leaderboard.md").read_text(encoding="utf-8")
    # graddiff: 2 learning rates × (epoch 1 at s = 1, epoch 2 at both scales); chip: its 2 scales
    for method, count, shown in (("graddiff", 6, "@ epoch="), ("chip", 2, "@ scale=")):
        sweep = read_results(out / "results" / "patient" / f"{method}.json").sweep
        assert sweep is not None and len(sweep.points) == count and shown in board
        # the recorded choices re-derive from the recorded points: the floor rule ranks, oracle-match beside
        assert sweep.selections == [
            select_at_floor(sweep.points, sweep.vanilla_forget, 0.5),
            select_oracle_match(sweep.points, sweep.oracle_forget),
        ]
    assert read_results(out / "results" / "patient" / "vanilla.json").sweep is None
    curves = out / "leaderboard" / "curves_patient.png"  # the sweeps drawn: forget and sibling − forget
    assert (
        curves.stat().st_size > 0 and "curves_patient.png" in (out / "leaderboard" / "index.html").read_text()
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"npo": {"betta": 0.2}}', "npo config betta"),
        ('{"nope": {}}', "unknown method 'nope'"),
        ('{"chip": {"grid": {"fields": {"top_fraction": [2.0]}}}}', "chip config top_fraction"),
        ("[1, 2]", "expected a mapping of method name"),
        ("{not json", "not valid JSON or YAML"),
    ],
)
def test_a_bad_method_config_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    settings = tmp_path / "methods.json"
    settings.write_text(text, encoding="utf-8")
    out = tmp_path / "run"
    assert (
        main(
            ["run", "--size", "mini", "--model", "tiny", "--method-config", str(settings), "--out", str(out)]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and expected in err, err
    assert not out.exists()
