"""`evaluate.load("medforget_metric")` as a new user types it, in fresh virtualenvs made here.

Each venv is made with `python -m venv --without-pip` from the base interpreter; a `.pth` file adds
a folder of symlinks to this venv's site-packages *minus* the medforget install (and minus its
`.pth` files, which a plain path entry never runs), so the dependencies are there and medforget is
not. One venv then gets the package the way a user does: a wheel built from this checkout,
installed with pip. Nothing is downloaded: builds and installs run with --no-index, the Hugging Face
libraries run offline with an empty cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from medforget_data.cli import main
from medforget_data.dataset.built import BuiltDataset
from medforget_data.scoring.metrics import METRIC_FIELDS
from medforget_data.scoring.results import read_results
from medforget_data.scoring.submission import SubmissionMetadata, write_submission
from tests.test_reliability_surfaces import repository_requirement_url

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ("pyproject.toml", "setup.py", "README.md", "medforget_data", "eval", "builders", "hub_card")
LEVEL = "patient"


def _run(args: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=600, **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A wheel of this checkout, built from a copy (an in-tree build would leave build/ behind)."""
    tmp = tmp_path_factory.mktemp("wheel")
    source = tmp / "src"
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            source.mkdir(exist_ok=True)
            shutil.copy2(path, source / name)
    done = _run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index"]
        + ["-w", str(tmp / "dist"), str(source)]
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (built,) = (tmp / "dist").glob("medforget-*.whl")
    return built


@pytest.fixture(scope="module")
def dependencies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This venv's site-packages without medforget: one symlink per entry, medforget's left out.

    torch and transformers are left out too: the metric needs no deep-learning stack, and
    `import evaluate` imports transformers' pipelines whenever it finds them (slow).
    """
    farm = tmp_path_factory.mktemp("site-without-medforget")
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        name = entry.name.lower()
        if "medforget" in name or name.endswith(".pth") or name.startswith(("torch", "transformers")):
            continue
        (farm / entry.name).symlink_to(entry)
    return farm


def fresh_venv(folder: Path, dependencies: Path, wheel: Path | None = None) -> Path:
    """A new venv seeing `dependencies`; with `wheel`, medforget installed from it. Returns its python."""
    assert _run([sys._base_executable, "-m", "venv", "--without-pip", str(folder)]).returncode == 0
    python = folder / "bin" / "python"
    where = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"])
    purelib = Path(where.stdout.strip())
    (purelib / "dependencies.pth").write_text(f"{dependencies}\n", encoding="utf-8")
    if wheel is not None:
        pip = [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index"]
        done = _run([*pip, "--target", str(purelib), str(wheel)])
        assert done.returncode == 0, done.stderr[-2000:]
    return python


def offline_env(home: Path) -> dict[str, str]:
    """The environment of a user offline with an empty Hugging Face cache under `home`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "PYTHON", "MEDFORGET_"))}
    env.update(
        HF_HOME=str(home / "hf"),
        HF_HUB_OFFLINE="1",
        HF_EVALUATE_OFFLINE="1",
        HF_DATASETS_OFFLINE="1",
        MEDFORGET_CACHE=str(home / "medforget"),
    )
    return env


def mixed_predictions(items_by_split: dict) -> dict[str, str]:
    """Right, half-right and wrong answers in turn, so no score is trivially 0 or 1."""
    predictions = {}
    for items in items_by_split.values():
        for index, item in enumerate(items):
            words = item.answer.split()
            turn = index % 3
            if turn == 0:
                predictions[item.id] = item.answer
            elif turn == 1:
                predictions[item.id] = " ".join(words[: max(1, len(words) // 2)]).upper()
            else:
                predictions[item.id] = "No acute cardiopulmonary abnormality."
    return predictions


USER_SCRIPT = """
import doctest, json, sys
from pathlib import Path

import evaluate

inputs = json.loads(Path(sys.argv[1]).read_text())
metric = evaluate.load("medforget_metric")  # exactly as typed
out = {"file": sys.modules[type(metric).__module__].__file__}
for split, columns in inputs.items():
    out[split] = {
        "means": metric.compute(**columns),
        "items": metric.compute(**columns, use_aggregator=False),
    }
card = Path(sys.argv[2]).read_text()
examples = card.split("### Examples", 1)[1].split("```python", 1)[1].split("```", 1)[0]
test = doctest.DocTestParser().get_doctest(examples, {}, "card", None, 0)
runner = doctest.DocTestRunner()
runner.run(test)
out["card_examples"] = {"attempted": runner.tries, "failed": runner.failures}
Path(sys.argv[3]).write_text(json.dumps(out))
"""


def test_evaluate_load_by_name_offline_in_a_fresh_venv_matches_medforget_score(
    tmp_path: Path, wheel: Path, dependencies: Path, openi_mini_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    items_by_split = BuiltDataset(openi_mini_dir).level_items(LEVEL)
    predictions = mixed_predictions(items_by_split)
    submission = tmp_path / "submission.jsonl"
    metadata = {"method": "m", "model": "none", "level": LEVEL, "seed": 0, "contact": "a@b.c"}
    write_submission(submission, SubmissionMetadata(**metadata), predictions)
    scored = tmp_path / "results.json"
    dataset = ["--dataset", str(openi_mini_dir)]
    assert main(["score", str(submission), "--level", LEVEL, *dataset, "--out", str(scored)]) == 0
    capsys.readouterr()
    results = read_results(scored)

    inputs = {
        split: {
            "predictions": [predictions[i.id] for i in items],
            "references": [i.answer for i in items],
            "tasks": [i.task for i in items],
            "options": [list(i.options) for i in items],
            "facts": [i.fact for i in items],
            "questions": [i.question for i in items],
        }
        for split, items in items_by_split.items()
    }
    (tmp_path / "inputs.json").write_text(json.dumps(inputs))
    python = fresh_venv(tmp_path / "venv", dependencies, wheel)
    home = tmp_path / "home"
    out_file = tmp_path / "out.json"
    card = ROOT / "eval" / "medforget_metric" / "README.md"
    done = _run(
        [str(python), "-c", USER_SCRIPT, str(tmp_path / "inputs.json"), str(card), str(out_file)],
        cwd=tmp_path,
        env=offline_env(home),
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(out_file.read_text())
    # The module came from the Hugging Face cache under the empty home, put there by the package.
    assert "evaluate-metric--medforget_metric" in out["file"] and out["file"].startswith(str(home))
    assert out["card_examples"]["attempted"] >= 2 and out["card_examples"]["failed"] == 0

    by_id = {item.id: item for item in results.items}
    for split, items in items_by_split.items():
        means, per_item = out[split]["means"], out[split]["items"]
        for task, expected in results.scores[split].items():
            assert means[task] == pytest.approx(expected.mean, abs=1e-12), (split, task)
            if task == "generation":
                assert means["rouge_l"] == pytest.approx(expected.rouge_l, abs=1e-12)
                assert means["factuality"] == pytest.approx(expected.factuality, abs=1e-12)
        for name in METRIC_FIELDS:
            assert per_item[name] == [getattr(by_id[i.id], name) for i in items], (split, name)
    assert any(0 < v < 1 for s in results.scores.values() for v in (t.mean for t in s.values()))


def test_without_the_package_the_module_says_pip_install_from_the_repository(
    tmp_path: Path, dependencies: Path
) -> None:
    python = fresh_venv(tmp_path / "venv", dependencies)
    script = (
        "import importlib.util, evaluate, sys\n"
        "assert importlib.util.find_spec('medforget_data') is None, 'medforget is importable'\n"
        "evaluate.load(sys.argv[1])\n"
    )
    folder = ROOT / "eval" / "medforget_metric"
    done = _run([str(python), "-c", script, str(folder)], cwd=tmp_path, env=offline_env(tmp_path))
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    # What evaluate suggests installs: the package from pyproject's Repository URL (no index serves it).
    wanted = f"'pip install {repository_requirement_url()}'"
    assert last.startswith("ImportError") and wanted in last, last
