"""The submission format: JSONL, a metadata record first, then one {"id", "prediction"} per line.

{"metadata": {"method": "chip", "model": "medforget-small", "level": "patient", "seed": 0,
              "contact": "you@example.org"}}
{"id": "study-0001:patient.name:cloze", "prediction": "Monica Padilla"}
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from medforget_data.constants import LEVELS, Level
from medforget_data.errors import MedForgetError, check_choice

MAX_PREDICTION_CHARS = 8192


class SubmissionMetadata(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str = Field(min_length=1)
    model: str = Field(min_length=1)
    level: Level
    seed: int
    contact: str = Field(min_length=1)


class Prediction(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    prediction: str = Field(max_length=MAX_PREDICTION_CHARS)


class Submission(BaseModel):
    model_config = ConfigDict(frozen=True)

    metadata: SubmissionMetadata
    predictions: dict[str, str]
    lines: dict[str, int]  # id -> line number, for error messages


def _first_error(error: ValidationError) -> str:
    detail = error.errors()[0]
    where = ".".join(str(part) for part in detail["loc"]) or "record"
    if detail["type"] == "missing":
        return f"missing field {where!r}"
    if detail["type"] == "string_too_long":
        return f"{where} is longer than {MAX_PREDICTION_CHARS} characters"
    return f"{where}: {detail['msg']}"


def read_submission(path: Path) -> Submission:
    """Parse and validate; any problem raises MedForgetError naming the line."""
    path = Path(path)
    if not path.is_file():
        raise MedForgetError(f"submission {path} does not exist")
    metadata: SubmissionMetadata | None = None
    predictions: dict[str, str] = {}
    lines: dict[str, int] = {}
    raw = path.read_bytes()
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            raise MedForgetError(f"{path}:{number}: not valid UTF-8") from None
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            raise MedForgetError(f"{path}:{number}: not valid JSON ({error.msg}; truncated line?)") from None
        if not isinstance(record, dict):
            raise MedForgetError(f"{path}:{number}: expected a JSON object")
        try:
            if metadata is None:
                if "metadata" not in record:
                    raise MedForgetError(f'{path}:{number}: the first record must be {{"metadata": {{...}}}}')
                metadata = SubmissionMetadata.model_validate(record["metadata"])
                continue
            prediction = Prediction.model_validate(record)
        except ValidationError as error:
            raise MedForgetError(f"{path}:{number}: {_first_error(error)}") from None
        if prediction.id in predictions:
            raise MedForgetError(
                f"{path}:{number}: duplicate id {prediction.id!r} (first on line {lines[prediction.id]})"
            )
        predictions[prediction.id] = prediction.prediction
        lines[prediction.id] = number
    if metadata is None:
        raise MedForgetError(f"{path}: empty submission (no metadata record)")
    return Submission(metadata=metadata, predictions=predictions, lines=lines)


def check_coverage(submission: Submission, level: str, item_ids: Iterable[str], path: Path) -> None:
    """The submission is for `level` and has exactly one prediction per item of that level."""
    check_choice("level", level, LEVELS)
    if submission.metadata.level != level:
        raise MedForgetError(
            f"{path}: submission is for level {submission.metadata.level!r}, scored as {level!r}"
        )
    expected = set(item_ids)
    for item_id, number in submission.lines.items():
        if item_id not in expected:
            raise MedForgetError(f"{path}:{number}: unknown id {item_id!r} for level {level}")
    missing = sorted(expected - submission.predictions.keys())
    if missing:
        raise MedForgetError(f"{path}: missing predictions for {len(missing)} ids (first: {missing[0]!r})")


def write_submission(path: Path, metadata: SubmissionMetadata, predictions: dict[str, str]) -> None:
    """Write atomically (the generate command and tests use this)."""
    path = Path(path)
    temporary = path.with_name(path.name + ".tmp")
    with temporary.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps({"metadata": metadata.model_dump()}) + "\n")
        for item_id, prediction in predictions.items():
            handle.write(json.dumps({"id": item_id, "prediction": prediction}, ensure_ascii=False) + "\n")
    temporary.replace(path)
