"""Score a submission file against a built dataset folder (what `medforget score` runs)."""

from __future__ import annotations

from pathlib import Path

from medforget_data.constants import LEVEL_SPLITS, LEVELS
from medforget_data.dataset.load import read_split_items
from medforget_data.dataset.manifest import read_manifest
from medforget_data.dataset.schema import QAItem
from medforget_data.errors import MedForgetError, check_choice
from medforget_data.scoring.metrics import DEFAULT_RULE, SCORING_RULES, ScoringRule
from medforget_data.scoring.results import Results
from medforget_data.scoring.score import Judge, score_predictions
from medforget_data.scoring.submission import check_coverage, read_submission


def level_items(dataset_dir: Path, level: str) -> dict[str, list[QAItem]]:
    check_choice("level", level, LEVELS)
    return {split: read_split_items(dataset_dir, level, split) for split in LEVEL_SPLITS}


def score_submission_file(
    submission_path: Path,
    level: str,
    dataset_dir: Path,
    judge: Judge,
    reference: Results | None = None,
    seed: int = 0,
    rule: ScoringRule = DEFAULT_RULE,
) -> Results:
    """Validate everything first (submission, coverage, reference), then score.

    `reference`: vanilla's results at this level, for utility (relative holdout and retain scores).
    """
    check_choice("level", level, LEVELS)
    check_choice("scoring rule", rule, SCORING_RULES)
    submission = read_submission(submission_path)
    manifest = read_manifest(dataset_dir)
    items = level_items(dataset_dir, level)
    check_coverage(
        submission, level, (item.id for split in items.values() for item in split), submission_path
    )
    if reference is not None and reference.dataset_hash != manifest.dataset_hash:
        raise MedForgetError(
            "the reference (vanilla's results) was scored on another dataset "
            f"({reference.dataset_hash[:12]}… ≠ {manifest.dataset_hash[:12]}…)"
        )
    if reference is not None and reference.rule != rule:
        raise MedForgetError(f"the reference was scored with rule {reference.rule!r}, not {rule!r}")
    return score_predictions(
        items,
        submission.predictions,
        submission.metadata,
        judge,
        manifest.dataset_hash,
        reference=reference,
        seed=seed,
        text_only=submission.text_only,
        rule=rule,
    )
