"""Score predictions against a level's items: per item, then per split × task, gaps and utility."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from typing import Protocol

from medforget_data.constants import HOLDOUT_SPLIT, LEVEL_SPLITS, TASKS
from medforget_data.schema import QAItem
from medforget_data.scoring.aggregate import gap, mean_ci, relative
from medforget_data.scoring.metrics import exact_match, generation_total, rouge_l
from medforget_data.scoring.results import ItemScore, Results, SplitTaskScore, UtilityScore
from medforget_data.scoring.submission import SubmissionMetadata


class Judge(Protocol):
    """Factuality in [0, 1], or None when no verdict could be obtained (unscored)."""

    name: str
    version: str

    def factuality(self, question: str, prediction: str, reference: str, fact: str) -> float | None: ...


def score_item(item: QAItem, split: str, prediction: str, judge: Judge) -> ItemScore:
    if item.task != "generation":
        value = exact_match(prediction, item.answer, item.task, item.options)
        return ItemScore(
            id=item.id,
            split=split,
            task=item.task,
            image_answerable=item.image_answerable,
            score=value,
            exact_match=value,
        )
    rouge = rouge_l(prediction, item.answer)
    factuality = judge.factuality(item.question, prediction, item.answer, item.fact)
    total = None if factuality is None else generation_total(rouge, factuality)
    return ItemScore(
        id=item.id,
        split=split,
        task=item.task,
        image_answerable=item.image_answerable,
        score=total,
        rouge_l=rouge,
        factuality=factuality,
    )


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return sum(present) / len(present) if present else None


def aggregate(items: list[ItemScore], seed: int = 0) -> dict[str, dict[str, SplitTaskScore]]:
    groups: dict[tuple[str, str], list[ItemScore]] = defaultdict(list)
    for item in items:
        groups[(item.split, item.task)].append(item)
    scores: dict[str, dict[str, SplitTaskScore]] = {}
    for split in LEVEL_SPLITS:
        for task in TASKS:
            group = groups.get((split, task), [])
            if not group:
                continue
            values = [i.score for i in group if i.score is not None]
            mean, low, high = mean_ci(values, seed=seed)
            scores.setdefault(split, {})[task] = SplitTaskScore(
                n=len(group),
                unscored=len(group) - len(values),
                mean=mean,
                ci_low=low,
                ci_high=high,
                rouge_l=_mean(i.rouge_l for i in group) if task == "generation" else None,
                factuality=_mean(i.factuality for i in group) if task == "generation" else None,
            )
    return scores


def split_gaps(scores: dict[str, dict[str, SplitTaskScore]]) -> dict[str, dict[str, float]]:
    gaps: dict[str, dict[str, float]] = {}
    for task in TASKS:
        forget = scores.get("forget", {}).get(task)
        if forget is None:
            continue
        entry = {}
        for other in ("retain", "sibling"):
            if task in scores.get(other, {}):
                entry[f"{other}_minus_forget"] = gap(scores[other][task].mean, forget.mean)
        gaps[task] = entry
    return gaps


def utility_means(items: list[ItemScore]) -> dict[str, float]:
    """Holdout: image-answerable items only (an unseen patient's identity is unknowable); retain: all."""
    holdout = [
        i.score for i in items if i.split == HOLDOUT_SPLIT and i.image_answerable and i.score is not None
    ]
    retain = [i.score for i in items if i.split == "retain" and i.score is not None]
    return {
        HOLDOUT_SPLIT: sum(holdout) / len(holdout) if holdout else math.nan,
        "retain": sum(retain) / len(retain) if retain else math.nan,
    }


def score_predictions(
    items_by_split: dict[str, list[QAItem]],
    predictions: dict[str, str],
    metadata: SubmissionMetadata,
    judge: Judge,
    dataset_hash: str,
    reference: Results | None = None,
    seed: int = 0,
) -> Results:
    scored = [
        score_item(item, split, predictions[item.id], judge)
        for split, items in items_by_split.items()
        for item in items
    ]
    scores = aggregate(scored, seed=seed)
    utility = None
    if reference is not None:
        mine, theirs = utility_means(scored), utility_means(reference.items)
        utility = {
            name: UtilityScore(
                score=mine[name], reference=theirs[name], relative=relative(mine[name], theirs[name])
            )
            for name in mine
        }
    return Results(
        dataset_hash=dataset_hash,
        level=metadata.level,
        metadata=metadata,
        judge={"name": judge.name, "version": judge.version},
        scores=scores,
        gaps=split_gaps(scores),
        utility=utility,
        unscored=sum(i.score is None for i in scored),
        items=scored,
    )
