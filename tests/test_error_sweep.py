"""Every subcommand × a table of bad arguments: non-zero exit, one stderr line, no traceback, no new file.

Each case runs the console entry point in a fresh process (as a user would), in an empty working
folder with a private cache, and must fail before any heavy import or work.
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

CLI = "import sys; from medforget_data.cli import main; sys.exit(main(sys.argv[1:]))"

# (subcommand's bad arguments, text the one line must contain). Paths are relative to the case's
# folder, which holds: `existing/` (a folder), `existing.jsonl` (a file), `deep.jsonl` (a
# submission whose second line nests 100 000 lists), `bad.parquet` (not parquet).
CASES: list[tuple[list[str], str]] = [
    (["nope"], "invalid choice"),
    (["run", "--epochs", "-1"], "--epochs must be at least 1"),
    (["run", "--training-jobs", "2"], "--training-jobs is gone: --executor ray"),
    (["run", "--executor", "dask"], "unknown executor 'dask'"),
    (["run", "--training-processes", "0"], "--training-processes must be at least 1"),
    (["run", "--ray-address", "auto"], "--ray-address and --ray-gpus need --executor ray"),
    (["run", "--device", "tpu"], "unknown device 'tpu'"),
    (["run", "--levels", "nope"], "unknown level 'nope'"),
    (["run", "--size", "huge"], "unknown size 'huge'"),
    (["run", "--max-new-tokens", "0"], "--max-new-tokens must be at least 1"),
    (["run", "--epochs", "x"], "invalid int value"),
    (["run", "--out", "/proc/x"], "cannot write"),
    (["run", "--sweep", "some"], "unknown sweep 'some'"),
    (["run", "--method-config", "missing.yaml"], "missing.yaml is not a file"),
    (["run", "--utility-floor", "1.5"], "utility_floor"),
    (["build", "--size", "huge", "--out", "o"], "unknown size 'huge'"),
    (["build", "--source", "nope", "--out", "o"], "unknown source 'nope'"),
    (["build", "--out", "existing"], "already exists"),
    (["build", "--size", "mini", "--out", "/proc/x"], "cannot write"),
    (["build", "--size", "mini", "--out", "o", "--push", "me/x"], "refusing to push openi data"),
    (["build", "--size", "mini", "--out", "o", "--push", "me/x", "--private"], "--allow-restricted"),
    (["build", "--size", "mini", "--image-size", "0", "--out", "o"], "--image-size must be at least 1"),
    (["verify", "missing"], "missing is not a MedForget dataset folder"),
    (["verify", "existing.jsonl"], "not a MedForget dataset folder"),
    (["info", "missing"], "not a MedForget dataset folder"),
    (["finetune", "--out", "o", "--oracle-level", "nope"], "unknown level 'nope'"),
    (["finetune", "--out", "o", "--epochs", "0"], "--epochs must be at least 1"),
    (["finetune", "--out", "o", "--lr", "nan"], "--lr must be a positive number"),
    (["finetune", "--out", "o", "--device", "tpu"], "unknown device 'tpu'"),
    (["finetune", "--out", "existing"], "already exists"),
    (["finetune", "--out", "o", "--resume"], "holds no checkpoint"),
    (["finetune", "--out", "o", "--lora-rank", "4"], "--lora-rank"),
    (["finetune", "--out", "o", "--lora-alpha", "8"], "--lora-alpha need --model"),
    (["finetune", "--out", "o", "--model", "m", "--lora-rank", "-1"], "--lora-rank must be at least 0"),
    (["run", "--lora-rank", "-1"], "--lora-rank must be at least 0"),
    (["unlearn", "--method", "ga", "--level", "nope", "--model", "m", "--out", "o"], "unknown level 'nope'"),
    (
        ["unlearn", "--method", "ga", "--level", "patient", "--model", "m", "--out", "existing"],
        "already exists",
    ),
    (
        ["unlearn", "--method", "ga", "--level", "patient", "--model", "m", "--out", "o", "--device", "tpu"],
        "unknown device",
    ),
    (
        ["unlearn", "--method", "ga", "--level", "patient", "--model", "m", "--out", "o", "--set", "lr"],
        "--set expects key=value",
    ),
    (["generate", "--model", "m", "--level", "nope", "--out", "x.jsonl"], "unknown level 'nope'"),
    (
        ["generate", "--model", "m", "--level", "patient", "--splits", "nope", "--out", "x.jsonl"],
        "unknown split 'nope'",
    ),
    (["generate", "--model", "m", "--level", "patient", "--out", "missing_dir/x.jsonl"], "not a folder"),
    (["generate", "--model", "m", "--level", "patient", "--out", "existing.jsonl"], "--overwrite"),
    (["generate", "--model", "m", "--level", "patient", "--out", "existing"], "is a folder"),
    (
        ["generate", "--model", "m", "--level", "patient", "--out", "x.jsonl", "--batch-size", "0"],
        "at least 1",
    ),
    (
        ["generate", "--model", "m", "--level", "patient", "--out", "x.jsonl", "--device", "tpu"],
        "unknown device",
    ),
    (["score", "existing", "--level", "patient", "--dataset", "d"], "is a folder"),
    (["score", "missing.jsonl", "--level", "patient", "--dataset", "d"], "does not exist"),
    (["score", "existing.jsonl", "--level", "nope", "--dataset", "d"], "unknown level 'nope'"),
    (["score", "existing.jsonl", "--level", "patient", "--dataset", "d", "--judge", "nope"], "unknown judge"),
    (
        [
            "score",
            "existing.jsonl",
            "--level",
            "patient",
            "--dataset",
            "d",
            "--judge",
            "llm",
            "--judge-model",
            "m",
            "--judge-base-url",
            "not a url",
        ],
        "not an http(s):// URL",
    ),
    (["score", "deep.jsonl", "--level", "patient", "--dataset", "d"], "nested too deeply"),
    (
        ["score", "existing.jsonl", "--level", "patient", "--dataset", "d", "--out", "missing_dir/r.json"],
        "not a folder",
    ),
    (["attack", "--model", "m", "--level", "nope", "--results", "r.json"], "unknown level 'nope'"),
    (["attack", "--model", "m", "--level", "patient", "--results", "r.json"], "does not exist"),
    (
        ["attack", "--model", "m", "--level", "patient", "--results", "existing.jsonl", "--device", "tpu"],
        "unknown device",
    ),
    (["leaderboard", "missing", "--out", "o"], "does not exist"),
    (["leaderboard", "existing", "--out", "existing"], "output existing is the results folder existing"),
    (["leaderboard", "existing", "--out", "cache"], "already exists"),
    (["export", "--format", "nope", "missing", "o"], "unknown format 'nope'"),
    (["export", "missing", "o"], "not a MedForget dataset folder"),
    (["export", "missing", "existing"], "already exists"),
]


def _tree(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def _case_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "existing").mkdir()
    (folder / "existing.jsonl").write_text('{"metadata": {}}\n', encoding="utf-8")
    metadata = '{"metadata": {"method": "m", "model": "m", "level": "patient", "seed": 0, "contact": "c"}}'
    (folder / "deep.jsonl").write_text(metadata + "\n" + "[" * 100_000 + "]" * 100_000 + "\n")
    (folder / "cache").mkdir()
    return folder


def _run_case(folder: Path, args: list[str]) -> tuple[subprocess.CompletedProcess, set[str], set[str]]:
    before = _tree(folder)
    env = {**os.environ, "MEDFORGET_CACHE": str(folder / "cache"), "HF_HUB_OFFLINE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", CLI, *args], capture_output=True, text=True, cwd=folder, env=env, timeout=300
    )
    return done, before, _tree(folder)


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> dict[int, tuple]:
    """Every case at once, each in its own folder: the processes mostly wait on imports."""
    root = tmp_path_factory.mktemp("sweep")
    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = {
            index: pool.submit(_run_case, _case_folder(root / str(index)), args)
            for index, (args, _) in enumerate(CASES)
        }
        return {index: future.result() for index, future in futures.items()}


@pytest.mark.parametrize("index", range(len(CASES)), ids=[" ".join(a)[:60] for a, _ in CASES])
def test_bad_arguments_give_one_line_and_leave_nothing(outcomes: dict[int, tuple], index: int) -> None:
    done, before, after = outcomes[index]
    expected = CASES[index][1]
    assert done.returncode != 0
    lines = done.stderr.strip("\n").split("\n")
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert expected in lines[0], lines[0]
    assert after == before  # no new file or folder (nor in the cache)
