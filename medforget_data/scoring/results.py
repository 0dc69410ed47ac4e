"""The results JSON: one scored submission (later issues add attack sections to the same file)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from medforget_data.errors import MedForgetError
from medforget_data.scoring.metrics import DEFAULT_RULE, ScoringRule
from medforget_data.scoring.submission import SubmissionMetadata

RESULTS_SCHEMA_VERSION = 1


class ItemScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str
    split: str
    task: str
    image_answerable: bool
    score: float | None  # None: unscored (the judge gave no verdict)
    exact_match: float | None = None
    rouge_l: float | None = None
    factuality: float | None = None


class SplitTaskScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    n: int
    unscored: int
    mean: float
    ci_low: float
    ci_high: float
    rouge_l: float | None = None
    factuality: float | None = None


class UtilityScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    score: float
    reference: float
    relative: float


class ModalityResults(BaseModel):
    """Scores of one input modality other than the default image+text (e.g. text-only prompts)."""

    model_config = ConfigDict(frozen=True)

    scores: dict[str, dict[str, SplitTaskScore]]  # split -> task -> score
    gaps: dict[str, dict[str, float]]
    unscored: int
    items: list[ItemScore]


class Results(BaseModel):
    """A scored submission. Image+text scores are top level; other sections are added by later steps."""

    schema_version: int = RESULTS_SCHEMA_VERSION
    dataset_hash: str
    level: str
    metadata: SubmissionMetadata
    judge: dict[str, str]  # name, version
    rule: ScoringRule = DEFAULT_RULE  # how classification and cloze answers were scored
    scores: dict[str, dict[str, SplitTaskScore]]  # split -> task -> score
    gaps: dict[str, dict[str, float]]  # task -> {"retain_minus_forget", "sibling_minus_forget"}
    utility: dict[str, UtilityScore] | None = None  # "holdout", "retain" relative to the reference
    unscored: int
    items: list[ItemScore]
    text_only: ModalityResults | None = None  # when the submission has text-only predictions
    attacks: dict[str, Any] = {}  # filled by `medforget attack` (membership, reconstruction, …)
    timings: dict[str, float] = {}  # seconds per stage when `medforget run` made it (unlearn, generate, …)


def write_results(path: Path, results: Results) -> None:
    """Atomic: a uniquely named temporary file renamed over the target, so no half-written results."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(results.model_dump(mode="json"), indent=1) + "\n"
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_results(path: Path) -> Results:
    path = Path(path)
    if not path.is_file():
        raise MedForgetError(f"results file {path} does not exist")
    try:
        return Results.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise MedForgetError(f"{path}: not a MedForget results file ({str(error).splitlines()[0]})") from None
