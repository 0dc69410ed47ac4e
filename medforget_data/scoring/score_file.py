"""Score a submission — in memory, or a JSONL file (what `medforget score` runs) — against a built dataset."""

from __future__ import annotations

from pathlib import Path

from medforget_data.constants import LEVELS
from medforget_data.dataset.built import BuiltDataset
from medforget_data.errors import MedForgetError, check_choice
from medforget_data.scoring.metrics import DEFAULT_RULE, SCORING_RULES, ScoringRule
from medforget_data.scoring.results import Results
from medforget_data.scoring.score import Judge, score_predictions
from medforget_data.scoring.submission import Submission, check_coverage, read_submission


def score_submission(
    submission: Submission,
    level: str,
    dataset: BuiltDataset | Path,
    judge: Judge,
    reference: Results | None = None,
    seed: int = 0,
    rule: ScoringRule = DEFAULT_RULE,
    source: Path | str = "the submission",
) -> Results:
    """Validate everything first (coverage, reference), then score; `source` names it in errors.

    `reference`: vanilla's results at this level, for utility (relative holdout and retain scores).
    """
    check_choice("level", level, LEVELS)
    check_choice("scoring rule", rule, SCORING_RULES)
    dataset = BuiltDataset.of(dataset)
    items = dataset.level_items(level)
    check_coverage(submission, level, (item.id for split in items.values() for item in split), Path(source))
    if reference is not None and reference.dataset_hash != dataset.dataset_hash:
        raise MedForgetError(
            "the reference (vanilla's results) was scored on another dataset "
            f"({reference.dataset_hash[:12]}… ≠ {dataset.dataset_hash[:12]}…)"
        )
    if reference is not None and reference.rule != rule:
        raise MedForgetError(f"the reference was scored with rule {reference.rule!r}, not {rule!r}")
    return score_predictions(
        items,
        submission.predictions,
        submission.metadata,
        judge,
        dataset.dataset_hash,
        reference=reference,
        seed=seed,
        text_only=submission.text_only,
        rule=rule,
    )


def score_submission_file(
    submission_path: Path,
    level: str,
    dataset: BuiltDataset | Path,
    judge: Judge,
    reference: Results | None = None,
    seed: int = 0,
    rule: ScoringRule = DEFAULT_RULE,
) -> Results:
    """A JSONL submission read and validated (one line per problem), then `score_submission`."""
    check_choice("level", level, LEVELS)
    check_choice("scoring rule", rule, SCORING_RULES)
    submission = read_submission(submission_path)
    return score_submission(submission, level, dataset, judge, reference, seed, rule, source=submission_path)
