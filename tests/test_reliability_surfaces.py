"""Reliability 3 (issue 29), the scorer's surfaces: huge numbers in inputs, the metric module's
options, the install lines of the Spaces and cards, the missing source data."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from medforget_data.cli import main
from medforget_data.errors import MedForgetError
from medforget_data.scoring.submission import SubmissionMetadata, read_submission, write_submission
from tests.scoring_fixtures import HAND_LEVEL, hand_predictions, write_hand_dataset

ROOT = Path(__file__).resolve().parents[1]
METADATA = {"method": "m", "model": "none", "level": HAND_LEVEL, "seed": 0, "contact": "a@b.c"}
# Past Python's int-string conversion limit (4300 digits): json.loads raises ValueError, not
# JSONDecodeError.
HUGE = "9" * 5000


def huge(text: str) -> str:
    """`text` with its N replaced by the huge integer."""
    return text.replace("N", HUGE)


@pytest.fixture(scope="module")
def hand_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_hand_dataset(tmp_path_factory.mktemp("hand") / "dataset")


def valid_lines() -> list[str]:
    metadata = json.dumps({"metadata": METADATA})
    return [metadata, *(json.dumps({"id": i, "prediction": p}) for i, p in hand_predictions().items())]


# (where, line number, the line): a huge integer in each place a submission line can hold one.
HUGE_SUBMISSION_LINES = {
    "seed": (1, json.dumps({"metadata": METADATA}).replace('"seed": 0', f'"seed": {HUGE}')),
    "metadata-nested": (1, huge('{"metadata": {"method": "m", "extra": [[{"x": N}]]}}')),
    "id": (2, huge('{"id": N, "prediction": "B"}')),
    "prediction": (3, huge('{"id": "f-cls", "prediction": N}')),
    "nested": (4, huge('{"id": "f-cls", "prediction": "B", "x": {"y": [1, N]}}')),
    "bare": (5, HUGE),
}


def submission_with(path: Path, number: int, line: str) -> Path:
    lines = valid_lines()
    lines[number - 1] = line
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("where", HUGE_SUBMISSION_LINES)
def test_a_huge_integer_in_a_submission_is_one_line_naming_its_line(
    where: str, tmp_path: Path, hand_dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    number, line = HUGE_SUBMISSION_LINES[where]
    path = submission_with(tmp_path / "s.jsonl", number, line)
    with pytest.raises(MedForgetError, match=rf"s\.jsonl:{number}: a number of more than 4300 digits$"):
        read_submission(path)
    out = tmp_path / "r.json"
    args = ["score", str(path), "--level", HAND_LEVEL, "--dataset", str(hand_dataset), "--out", str(out)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {path}:{number}: "), err
    assert not out.exists()


def test_a_huge_integer_in_a_submission_through_the_command(tmp_path: Path, hand_dataset: Path) -> None:
    """The installed command as a user runs it: a non-zero exit and exactly one stderr line."""
    path = submission_with(tmp_path / "s.jsonl", *HUGE_SUBMISSION_LINES["nested"])
    command = [str(Path(sys.executable).parent / "medforget"), "score", str(path), "--level", HAND_LEVEL]
    done = subprocess.run(
        [*command, "--dataset", str(hand_dataset)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode != 0
    assert done.stderr.splitlines() == [f"error: {path}:4: a number of more than 4300 digits"], done.stderr


# A results JSON (the --reference of `score`) read through io.read_json: the same holes.
BAD_RESULTS = {
    "huge-integer": huge('{"schema_version": N}'),
    "huge-integer-nested": huge('{"items": [{"score": 1, "x": [N]}]}'),
    "nested-too-deeply": "[" * 100_000 + "]" * 100_000,
}


@pytest.mark.parametrize("case", BAD_RESULTS)
def test_a_bad_reference_results_file_is_one_line(
    case: str, tmp_path: Path, hand_dataset: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    submission = tmp_path / "s.jsonl"
    write_submission(submission, SubmissionMetadata(**METADATA), hand_predictions())
    reference = tmp_path / "reference.json"
    reference.write_text(BAD_RESULTS[case], encoding="utf-8")
    args = ["score", str(submission), "--level", HAND_LEVEL, "--dataset", str(hand_dataset)]
    assert main([*args, "--reference", str(reference)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"error: {reference}: not valid JSON"), err
