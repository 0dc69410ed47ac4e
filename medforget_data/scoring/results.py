"""The results JSON: one scored submission, and the attacks on the model that answered it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict

from medforget_data.io import atomic_write_text, dump_json, read_model
from medforget_data.scoring.metrics import DEFAULT_RULE, ScoringRule
from medforget_data.scoring.submission import SubmissionMetadata

# 2: `attacks` became typed sections (membership, reconstruction, forget_quality).
RESULTS_SCHEMA_VERSION = 2


def _null_is_nan(value: object) -> object:
    return math.nan if value is None else value


# A score that may be undefined (an unscored cell, a zero reference): NaN in memory, `null` in the
# file, since bare NaN is not JSON (Node's JSON.parse and strict parsers reject it).
Score = Annotated[float, BeforeValidator(_null_is_nan)]


def _nan_to_null(value: object) -> object:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: _nan_to_null(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_nan_to_null(item) for item in value]
    return value


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
    mean: Score
    ci_low: Score
    ci_high: Score
    rouge_l: float | None = None
    factuality: float | None = None


class UtilityScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    score: Score
    reference: Score
    relative: Score


class ModalityResults(BaseModel):
    """Scores of one input modality other than the default image+text (e.g. text-only prompts)."""

    model_config = ConfigDict(frozen=True)

    scores: dict[str, dict[str, SplitTaskScore]]  # split -> task -> score
    gaps: dict[str, dict[str, Score]]
    unscored: int
    items: list[ItemScore]


class Membership(BaseModel):
    """Membership inference, forget split (members) against holdout (non-members)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    auc: dict[str, float]  # attack (mia.MIA_ATTACKS) -> ROC AUC
    forget_loss: dict[str, float]  # forget item id -> LOSS statistic (mean answer-token log-likelihood)


class Reconstruction(BaseModel):
    """The hierarchical reconstruction attack: forget score recovered at each context depth."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    depths: list[str]  # in the order they add context
    recovery: dict[str, float]  # depth -> mean forget score


class ForgetQuality(BaseModel):
    """The model against the retrain oracle of the same level."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    privleak: dict[str, float]  # attack -> (AUC − oracle AUC) / oracle AUC
    ks_p_value: float  # KS test of forget LOSS statistics against the oracle's
    score_distance: float  # mean |forget score − oracle's|


class Attacks(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    membership: Membership
    reconstruction: Reconstruction
    forget_quality: ForgetQuality | None = None  # None for the oracle itself


class Results(BaseModel):
    """A scored submission. Image+text scores are top level; other sections are added by later steps."""

    schema_version: int = RESULTS_SCHEMA_VERSION
    dataset_hash: str
    level: str
    metadata: SubmissionMetadata
    judge: dict[str, str]  # name, version
    rule: ScoringRule = DEFAULT_RULE  # how classification and cloze answers were scored
    scores: dict[str, dict[str, SplitTaskScore]]  # split -> task -> score
    gaps: dict[str, dict[str, Score]]  # task -> {"retain_minus_forget", "sibling_minus_forget"}
    utility: dict[str, UtilityScore] | None = None  # "holdout", "retain" relative to the reference
    unscored: int
    items: list[ItemScore]
    text_only: ModalityResults | None = None  # when the submission has text-only predictions
    attacks: Attacks | None = None  # by `medforget attack` or `medforget run`
    timings: dict[str, float] = {}  # seconds per stage when `medforget run` made it (unlearn, generate, …)


def write_results(path: Path, results: Results) -> None:
    """Atomic, and strict JSON: a non-finite score is written as null (read back as NaN)."""
    atomic_write_text(path, dump_json(_nan_to_null(results.model_dump(mode="json"))))


def read_results(path: Path) -> Results:
    return read_model(path, Results, "MedForget results file")
