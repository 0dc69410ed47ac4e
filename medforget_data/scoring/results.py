"""The results JSON: one scored submission (later issues add attack sections to the same file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from medforget_data.errors import MedForgetError
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


class Results(BaseModel):
    schema_version: int = RESULTS_SCHEMA_VERSION
    dataset_hash: str
    level: str
    metadata: SubmissionMetadata
    judge: dict[str, str]
    scores: dict[str, dict[str, SplitTaskScore]]  # split -> task -> score
    gaps: dict[str, dict[str, float]]  # task -> {"retain_minus_forget", "sibling_minus_forget"}
    utility: dict[str, UtilityScore] | None = None  # "holdout", "retain" relative to the reference
    unscored: int
    items: list[ItemScore]
    attacks: dict[str, Any] = {}


def write_results(path: Path, results: Results) -> None:
    """Atomic: a temporary file renamed over the target, so no half-written results exist."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(
        json.dumps(results.model_dump(mode="json"), indent=1, allow_nan=True) + "\n", encoding="utf-8"
    )
    temporary.replace(path)


def read_results(path: Path) -> Results:
    path = Path(path)
    if not path.is_file():
        raise MedForgetError(f"results file {path} does not exist")
    try:
        return Results.model_validate_json(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise MedForgetError(f"{path}: not a MedForget results file ({str(error).splitlines()[0]})") from None
