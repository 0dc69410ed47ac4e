"""`medforget score` end to end: valid submissions, every bad-input case, the metric module."""

from __future__ import annotations

import json
from pathlib import Path

import evaluate
import pytest

import medforget_data
from medforget_data.cli import main
from medforget_data.constants import REPORTED_SPLITS
from medforget_data.dataset.built import BuiltDataset
from medforget_data.errors import MedForgetError
from medforget_data.scoring.results import read_results
from medforget_data.scoring.score_file import score_submission_file
from medforget_data.scoring.submission import (
    CONTACT_MAX_CHARS,
    MAX_PREDICTION_CHARS,
    NAME_MAX_CHARS,
    SubmissionMetadata,
    read_submission,
    write_submission,
)

METADATA = {"method": "test", "model": "none", "level": "patient", "seed": 0, "contact": "a@b.c"}


def answers(dataset: Path, level: str = "patient") -> dict[str, str]:
    return {
        item.id: item.answer for items in BuiltDataset(dataset).level_items(level).values() for item in items
    }


def write_lines(path: Path, records: list[object]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def score_cli(
    capsys: pytest.CaptureFixture[str], submission: Path, dataset: Path, *extra: str
) -> tuple[int, str]:
    code = main(["score", str(submission), "--level", "patient", "--dataset", str(dataset), *extra])
    return code, capsys.readouterr().err.strip()


def test_perfect_and_empty_submissions(
    tmp_path: Path, synthetic_mini_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gold = answers(synthetic_mini_dir)
    perfect = tmp_path / "perfect.jsonl"
    write_submission(perfect, SubmissionMetadata(**METADATA), gold)
    out = tmp_path / "perfect.json"
    assert score_cli(capsys, perfect, synthetic_mini_dir, "--out", str(out))[0] == 0
    results = read_results(out)
    assert set(results.scores) == set(REPORTED_SPLITS)
    assert all(s.mean == 1.0 for by_task in results.scores.values() for s in by_task.values())
    assert results.unscored == 0 and len(results.items) == len(gold)
    assert results.gaps["cloze"] == {"retain_minus_forget": 0.0, "sibling_minus_forget": 0.0}

    empty = tmp_path / "empty.jsonl"
    write_submission(empty, SubmissionMetadata(**METADATA), dict.fromkeys(gold, ""))
    out_empty = tmp_path / "empty.json"
    assert (
        score_cli(capsys, empty, synthetic_mini_dir, "--out", str(out_empty), "--reference", str(out))[0] == 0
    )
    scored = read_results(out_empty)
    assert scored.scores["forget"]["classification"].mean == 0.0
    assert scored.utility is not None and scored.utility["retain"].reference == 1.0
    assert scored.utility["holdout"].relative == scored.utility["holdout"].score


def bad_case(tmp_path: Path, dataset: Path, kind: str) -> Path:
    gold = answers(dataset)
    ids = list(gold)
    path = tmp_path / f"{kind}.jsonl"
    records: list[object] = [{"metadata": METADATA}] + [{"id": i, "prediction": "x"} for i in ids]
    if kind == "unknown id":
        records.append({"id": "no-such-item", "prediction": "x"})
    elif kind == "duplicate id":
        records.append({"id": ids[0], "prediction": "y"})
    elif kind == "missing ids":
        records = records[:-3]
    elif kind == "wrong level":
        records[0] = {"metadata": {**METADATA, "level": "study"}}
    elif kind == "unknown level name":
        records[0] = {"metadata": {**METADATA, "level": "hospital"}}
    elif kind == "oversize prediction":
        records[5] = {"id": ids[4], "prediction": "x" * (MAX_PREDICTION_CHARS + 1)}
    elif kind == "missing metadata field":
        records[0] = {"metadata": {k: v for k, v in METADATA.items() if k != "contact"}}
    elif kind == "no metadata record":
        records = records[1:]
    elif kind == "second metadata record":
        records.insert(2, {"metadata": METADATA})
    elif kind == "unexpected field":
        records[2] = {"id": ids[1], "prediction": "x", "score": 1.0}
    elif kind == "prediction not a string":
        records[2] = {"id": ids[1], "prediction": None}
    elif kind == "method with a pipe":
        records[0] = {"metadata": {**METADATA, "method": "ga|chip"}}
    write_lines(path, records)
    if kind == "non-UTF-8 line":
        lines = path.read_bytes().split(b"\n")
        lines[3] = b'{"id": "\xff\xfe", "prediction": "x"}'
        path.write_bytes(b"\n".join(lines))
    elif kind == "truncated line":
        path.write_bytes(path.read_bytes().rstrip(b"\n")[:-5])
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("unknown id", ":{line}: unknown id 'no-such-item' for level patient"),
        ("duplicate id", ":{line}: duplicate id"),
        ("missing ids", "missing predictions for 3 ids"),
        ("wrong level", "submission is for level 'study', scored as 'patient'"),
        ("unknown level name", ":1: level: Input should be"),
        ("oversize prediction", ":6: prediction is longer than 8192 characters"),
        ("missing metadata field", ":1: missing field 'contact'"),
        ("non-UTF-8 line", ":4: not valid UTF-8"),
        ("truncated line", ":{line}: not valid JSON"),
        ("no metadata record", ':1: the first record must be {{"metadata": {{...}}}} alone'),
        ("second metadata record", ":3: a second metadata record"),
        ("unexpected field", ":3: unexpected field 'score'"),
        ("prediction not a string", ":3: prediction: Input should be a valid string"),
        ("method with a pipe", ":1: method: 'ga|chip' is not a name (letters, digits,"),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, synthetic_mini_dir: Path, capsys: pytest.CaptureFixture[str], kind: str, message: str
) -> None:
    path = bad_case(tmp_path, synthetic_mini_dir, kind)
    line_count = len(path.read_bytes().rstrip(b"\n").split(b"\n"))
    out = tmp_path / "results.json"
    code, err = score_cli(capsys, path, synthetic_mini_dir, "--out", str(out))
    assert code == 2
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    assert message.format(line=line_count) in err
    assert not out.exists() and not list(tmp_path.glob("*.tmp"))


def test_wrong_cli_level_and_reference_from_another_dataset(
    tmp_path: Path, synthetic_mini_dir: Path, openi_mini_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    submission = tmp_path / "s.jsonl"
    write_submission(submission, SubmissionMetadata(**METADATA), answers(synthetic_mini_dir))
    code = main(["score", str(submission), "--level", "ward", "--dataset", str(synthetic_mini_dir)])
    assert (
        code == 2
        and "unknown level 'ward'; valid levels: institution, patient, study, section"
        in capsys.readouterr().err
    )
    other = tmp_path / "other.jsonl"
    write_submission(other, SubmissionMetadata(**METADATA), answers(openi_mini_dir))
    reference = tmp_path / "other.json"
    assert (
        main(
            [
                "score",
                str(other),
                "--level",
                "patient",
                "--dataset",
                str(openi_mini_dir),
                "--out",
                str(reference),
            ]
        )
        == 0
    )
    capsys.readouterr()
    code, err = score_cli(capsys, submission, synthetic_mini_dir, "--reference", str(reference))
    assert code == 2 and "was scored on another dataset" in err


def test_unscored_items_are_counted_not_zeroed(synthetic_mini_dir: Path, tmp_path: Path) -> None:
    class NoVerdicts:
        name, version = "none", "0"

        def factuality(self, *args: str) -> None:
            return None

    submission = tmp_path / "s.jsonl"
    gold = answers(synthetic_mini_dir)
    write_submission(submission, SubmissionMetadata(**METADATA), gold)
    results = score_submission_file(submission, "patient", synthetic_mini_dir, NoVerdicts())
    generation = [i for i in results.items if i.task == "generation"]
    assert results.unscored == len(generation) > 0
    assert all(i.score is None and i.rouge_l == 1.0 for i in generation)
    assert results.scores["forget"]["cloze"].mean == 1.0


def test_metric_module_loads_by_path_and_computes() -> None:
    metric = evaluate.load(medforget_data.metric_path())
    result = metric.compute(
        predictions=["B", "No pleural effusion.", "Monica Padilla"],
        references=["B) cardiomegaly", "Small pleural effusion.", "Monica Padilla"],
        tasks=["classification", "generation", "cloze"],
        options=[["nodule", "cardiomegaly", "opacity", "no acute abnormality"], [], []],
        facts=["section.FINDINGS", "section.FINDINGS", "patient.name"],
    )
    # ROUGE-L("no pleural effusion", "small pleural effusion") = 2/3; factuality 0 (negated) → total 1/6
    assert result["generation"] == pytest.approx(0.25 * 2 / 3)
    assert result["classification"] == 1.0 and result["cloze"] == 1.0
    assert result["score"] == pytest.approx((1 + 1 / 6 + 1) / 3)


def test_metric_card_and_module_sit_where_metric_path_points() -> None:
    from huggingface_hub.repocard import metadata_load

    folder = Path(medforget_data.metric_path())
    assert (folder / "medforget_metric.py").is_file()
    card = metadata_load(folder / "README.md")
    assert card is not None and "evaluate" in card["tags"] and card["title"] == "MedForget"


# ----- names shown on the leaderboard: a documented character set and length


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("method", "ga|chip", "'ga|chip' is not a name"),
        ("method", "<script>alert(1)</script>", "is not a name"),
        ("method", "two\nlines", "'two\\nlines' is not a name"),
        ("method", " padded", "is not a name"),
        ("model", "=HYPERLINK(1)", "is not a name"),
        ("model", "x" * (NAME_MAX_CHARS + 1), f"longer than {NAME_MAX_CHARS} characters"),
        ("contact", "a@b.c" + "x" * CONTACT_MAX_CHARS, f"longer than {CONTACT_MAX_CHARS} characters"),
        ("contact", "[me](javascript:alert(1))", "is not a name"),
        ("method", "", "at least 1 character"),
    ],
)
def test_names_outside_the_character_set_are_refused_in_one_line(
    tmp_path: Path, field: str, value: str, message: str
) -> None:
    path = write_lines(tmp_path / "s.jsonl", [{"metadata": {**METADATA, field: value}}])
    with pytest.raises(MedForgetError) as refused:
        read_submission(path)
    text = str(refused.value)
    assert text.startswith(f"{path}:1: {field}") and message in text and "\n" not in text


@pytest.mark.parametrize(
    "name",
    ["chip", "forget_mi", "forget everything", "Qwen/Qwen2.5-VL-3B (LoRA r16)", "you@example.org", "Müller"],
)
def test_ordinary_names_pass(tmp_path: Path, name: str) -> None:
    record = {**METADATA, "method": name, "model": name, "contact": name}
    path = write_lines(tmp_path / "s.jsonl", [{"metadata": record}])
    assert read_submission(path).metadata.model_dump() == record
