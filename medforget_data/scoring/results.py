"""The results JSON: one scored submission, and the attacks on the model that answered it."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator

from medforget_data.constants import TASKS
from medforget_data.io import atomic_write_text, dump_json, read_model
from medforget_data.scoring.aggregate import finite_mean, mean_ci, mean_gap_ci
from medforget_data.scoring.metrics import DEFAULT_RULE, ScoringRule
from medforget_data.scoring.selection import SweepRecord
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


class Estimate(BaseModel):
    """A mean (of scores, or over tasks of a split gap) with its percentile bootstrap 95% interval."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mean: float
    ci_low: float | None  # None: no per-item scores to resample (a hand-made results value)
    ci_high: float | None


class MeanGaps(BaseModel):
    """The gaps the leaderboard shows and ranks by: per gap the mean over tasks of minuend − subtrahend
    (tasks with both sides scored) and its CI; None where no task has both sides."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    retain_minus_forget: Estimate | None
    sibling_minus_forget: Estimate | None
    rephrased_retain_minus_forget: Estimate | None  # the same gap on the rephrased wordings


# The gap and memorisation CIs are drawn with seed 0 whatever the scoring seed: the leaderboard drew
# them so before they were stored, and a rescored run shows the numbers it showed before.
LEADERBOARD_CI_SEED = 0
MEAN_GAP_SPLITS: dict[str, tuple[str, str]] = {
    "retain_minus_forget": ("retain", "forget"),
    "sibling_minus_forget": ("sibling", "forget"),
    "rephrased_retain_minus_forget": ("retain_rephrased", "forget_rephrased"),
}


def mean_gaps(items: Sequence[ItemScore], gaps: dict[str, dict[str, float]]) -> MeanGaps:
    """Each gap of MEAN_GAP_SPLITS, its CI over the scored items with both sides resampled
    (`mean_gap_ci`). The point of a gap that `gaps` holds per task is their mean, as the leaderboard
    has always shown it (resampling's own point can differ from it in the last bit)."""
    values: dict[tuple[str, str], list[float]] = defaultdict(list)
    for item in items:
        if item.score is not None:
            values[(item.split, item.task)].append(item.score)
    estimates: dict[str, Estimate | None] = {}
    for name, (minuend, subtrahend) in MEAN_GAP_SPLITS.items():
        pairs = [(values.get((minuend, t), []), values.get((subtrahend, t), [])) for t in TASKS]
        point, low, high = mean_gap_ci(pairs, seed=LEADERBOARD_CI_SEED)
        if any(name in task_gaps for task_gaps in gaps.values()):
            point = finite_mean(task_gaps.get(name) for task_gaps in gaps.values())
        if point is None or math.isnan(point):
            estimates[name] = None
        elif math.isnan(low):
            estimates[name] = Estimate(mean=point, ci_low=None, ci_high=None)
        else:
            estimates[name] = Estimate(mean=point, ci_low=low, ci_high=high)
    return MeanGaps(**estimates)


def memorisation(items: Sequence[ItemScore]) -> dict[str, Estimate]:
    """Forget scores per task in the memorisation targets' metrics (ROUGE-L for generation, exact
    match otherwise), with their CI: whether vanilla learned `train` at all."""
    by_task: dict[str, list[float]] = defaultdict(list)
    for item in items:
        if item.split != "forget":
            continue
        metric = item.rouge_l if item.task == "generation" else item.exact_match
        value = metric if metric is not None else item.score
        if value is not None:
            by_task[item.task].append(value)
    estimates = {task: mean_ci(values, seed=LEADERBOARD_CI_SEED) for task, values in by_task.items()}
    return {task: Estimate(mean=m, ci_low=low, ci_high=high) for task, (m, low, high) in estimates.items()}


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
    sweep: SweepRecord | None = None  # the method's sweep and its chosen point, when `medforget run` swept
    # What the leaderboard shows, set when scored; a file written before these fields existed gets
    # them from its items when read (the same functions, so the same numbers).
    mean_gaps: MeanGaps | None = None
    memorisation: dict[str, Estimate] | None = None  # task -> forget score (`memorisation`)

    @model_validator(mode="after")
    def _fill_leaderboard_numbers(self) -> Results:
        if self.mean_gaps is None:
            self.mean_gaps = mean_gaps(self.items, self.gaps)
        if self.memorisation is None:
            self.memorisation = memorisation(self.items)
        return self

    @property
    def summary_gaps(self) -> MeanGaps:
        """`mean_gaps`, never None once validated."""
        assert self.mean_gaps is not None
        return self.mean_gaps


def write_results(path: Path, results: Results) -> None:
    """Atomic, and strict JSON: a non-finite score is written as null (read back as NaN)."""
    atomic_write_text(path, dump_json(_nan_to_null(results.model_dump(mode="json"))))


def results_path(results_dir: Path, level: str, method: str) -> Path:
    """Where a results folder (a run's `results/`, the Space's) keeps one method's results at one level."""
    return Path(results_dir) / level / f"{method}.json"


def read_results(path: Path) -> Results:
    return read_model(path, Results, "MedForget results file")
