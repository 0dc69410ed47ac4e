"""The submission format: UTF-8 JSONL, a metadata record first, then one prediction per line.

    {"metadata": {"method": "chip", "model": "medforget-small", "level": "patient", "seed": 0,
                  "contact": "you@example.org"}}
    {"id": "study-0001:patient.name:cloze", "prediction": "Monica Padilla"}

`method`, `model` and `contact` are names shown on the leaderboard: each is 1 to NAME_MAX_CHARS
characters (CONTACT_MAX_CHARS for `contact`) of letters, digits, `_`, space and `. + - / : @ ( )`,
beginning and ending with a letter, digit, `_` or `)` — one line, no markup (NAME_PATTERN).

Every item of every split of the level must have exactly one line. A submission may also give
each item the answer to the question asked *without* the image, as "prediction_text_only" (on
every line or on none); it is scored as a second, text-only table. Blank lines are ignored.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from medforget_data.constants import LEVELS, Level
from medforget_data.errors import MedForgetError, check_choice
from medforget_data.io import atomic_write_text

MAX_PREDICTION_CHARS = 8192  # far beyond any reference answer; guards the scorer's memory and time
TEXT_ONLY_FIELD = "prediction_text_only"


NAME_MAX_CHARS = 64
CONTACT_MAX_CHARS = 128
# Names print on the leaderboard (Markdown, CSV, HTML, the Space): no line break, `|`, `<`, `*`, `[`,
# quote or comma can reach a renderer, and a leading `=`, `+`, `-` or `@` (a spreadsheet formula)
# cannot start one. Every renderer escapes its cells as well; this keeps the names readable.
NAME_PATTERN = re.compile(r"\w(?:[\w .+\-/:@()]*[\w)])?")
NAME_CHARACTERS = "letters, digits, '_', space and . + - / : @ ( ), starting with a letter, digit or '_'"


def _name(text: str) -> str:
    if NAME_PATTERN.fullmatch(text) is None:
        raise ValueError(f"{text!r} is not a name ({NAME_CHARACTERS})")
    return text


Name = Annotated[str, Field(min_length=1, max_length=NAME_MAX_CHARS), AfterValidator(_name)]
Contact = Annotated[str, Field(min_length=1, max_length=CONTACT_MAX_CHARS), AfterValidator(_name)]


class SubmissionMetadata(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    method: Name
    model: Name
    level: Level
    seed: int
    contact: Contact


class Prediction(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(min_length=1)
    prediction: str = Field(max_length=MAX_PREDICTION_CHARS)
    prediction_text_only: str | None = Field(default=None, max_length=MAX_PREDICTION_CHARS)


class Submission(BaseModel):
    model_config = ConfigDict(frozen=True)

    metadata: SubmissionMetadata
    predictions: dict[str, str]
    text_only: dict[str, str] = {}  # id -> prediction without the image; empty when not given
    lines: dict[str, int]  # id -> line number, for error messages


def _first_error(error: ValidationError) -> str:
    detail = error.errors()[0]
    where = ".".join(str(part) for part in detail["loc"]) or "record"
    if detail["type"] == "missing":
        return f"missing field {where!r}"
    if detail["type"] == "string_too_long":
        return f"{where} is longer than {detail['ctx']['max_length']} characters"
    if detail["type"] == "value_error":  # a name: the message says which characters are allowed
        return f"{where}: {detail['ctx']['error']}"
    if detail["type"] == "extra_forbidden":
        return f"unexpected field {where!r}"
    return f"{where}: {detail['msg']}"


def read_submission(path: Path) -> Submission:
    """Parse and validate; any problem raises MedForgetError naming the line."""
    path = Path(path)
    if path.is_dir():
        raise MedForgetError(f"submission {path} is a folder; give the JSONL file")
    if not path.is_file():
        raise MedForgetError(f"submission {path} does not exist")
    metadata: SubmissionMetadata | None = None
    predictions: dict[str, str] = {}
    text_only: dict[str, str] = {}
    lines: dict[str, int] = {}
    raw = path.read_bytes().removeprefix(b"\xef\xbb\xbf")  # a BOM from Windows editors is harmless
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
        except ValueError:  # after JSONDecodeError (a subclass): Python's int-string conversion limit
            raise MedForgetError(
                f"{path}:{number}: a number of more than {sys.get_int_max_str_digits()} digits"
            ) from None
        except RecursionError:  # thousands of nested brackets: refused, never a crash of the scorer/Space
            raise MedForgetError(f"{path}:{number}: JSON nested too deeply") from None
        if not isinstance(record, dict):
            raise MedForgetError(f"{path}:{number}: expected a JSON object")
        try:
            if metadata is None:
                if set(record) != {"metadata"}:
                    raise MedForgetError(
                        f'{path}:{number}: the first record must be {{"metadata": {{...}}}} alone'
                    )
                metadata = SubmissionMetadata.model_validate(record["metadata"])
                continue
            if "metadata" in record:
                raise MedForgetError(
                    f"{path}:{number}: a second metadata record (only the first line has one)"
                )
            prediction = Prediction.model_validate(record)
        except ValidationError as error:
            raise MedForgetError(f"{path}:{number}: {_first_error(error)}") from None
        if prediction.id in predictions:
            raise MedForgetError(
                f"{path}:{number}: duplicate id {prediction.id!r} (first on line {lines[prediction.id]})"
            )
        if lines and (prediction.prediction_text_only is None) != (not text_only):
            first = next(iter(lines.values()))
            raise MedForgetError(
                f"{path}:{number}: {TEXT_ONLY_FIELD!r} must be on every prediction line or on none "
                f"(line {first} {'has' if text_only else 'lacks'} it)"
            )
        predictions[prediction.id] = prediction.prediction
        if prediction.prediction_text_only is not None:
            text_only[prediction.id] = prediction.prediction_text_only
        lines[prediction.id] = number
    if metadata is None:
        raise MedForgetError(f"{path}: empty submission (no metadata record)")
    return Submission(metadata=metadata, predictions=predictions, text_only=text_only, lines=lines)


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


def write_submission(
    path: Path,
    metadata: SubmissionMetadata,
    predictions: dict[str, str],
    text_only: dict[str, str] | None = None,
) -> None:
    """Write atomically (the generate command and tests use this)."""
    lines = [json.dumps({"metadata": metadata.model_dump()})]
    for item_id, prediction in predictions.items():
        record = {"id": item_id, "prediction": prediction}
        if text_only is not None:
            record[TEXT_ONLY_FIELD] = text_only[item_id]
        lines.append(json.dumps(record, ensure_ascii=False))
    atomic_write_text(path, "".join(line + "\n" for line in lines))
