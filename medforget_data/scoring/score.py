"""Score predictions against a level's items: per item, then per split × task, gaps and utility."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import NamedTuple, Protocol

from medforget_data.constants import HOLDOUT_SPLIT, LEVEL_SPLITS, TASKS
from medforget_data.dataset.schema import QAItem
from medforget_data.errors import MedForgetError, check_choice
from medforget_data.scoring.aggregate import finite_mean, gap, mean_ci, relative
from medforget_data.scoring.metrics import (
    DEFAULT_RULE,
    METRIC_FIELDS,
    SCORING_RULES,
    UNSCORED,
    ScoringRule,
    exact_match,
    generation_total,
    rouge_l,
)
from medforget_data.scoring.results import (
    ItemScore,
    ModalityResults,
    Results,
    SplitTaskScore,
    UtilityScore,
    mean_gaps,
    memorisation,
)
from medforget_data.scoring.submission import SubmissionMetadata


class Judge(Protocol):
    """Factuality in [0, 1], or None when no verdict could be obtained (unscored)."""

    name: str
    version: str

    def factuality(self, question: str, prediction: str, reference: str, fact: str) -> float | None: ...


class AnswerScore(NamedTuple):
    """One answer's metrics; the ones that do not apply to its task are None."""

    score: float | None  # exact match, or the generation total (None: unscored)
    exact_match: float | None = None
    rouge_l: float | None = None
    factuality: float | None = None


def score_answer(
    prediction: str,
    reference: str,
    task: str,
    options: Sequence[str],
    fact: str,
    judge: Judge,
    question: str = "",
    rule: ScoringRule = DEFAULT_RULE,
) -> AnswerScore:
    """The per-item definition every caller shares (the CLI, the `evaluate` module, the attacks)."""
    if task != "generation":
        value = exact_match(prediction, reference, task, options, rule)
        return AnswerScore(score=value, exact_match=value)
    rouge = rouge_l(prediction, reference)
    factuality = judge.factuality(question, prediction, reference, fact)
    total = None if factuality is None else generation_total(rouge, factuality)
    return AnswerScore(score=total, rouge_l=rouge, factuality=factuality)


def score_item(
    item: QAItem, split: str, prediction: str, judge: Judge, rule: ScoringRule = DEFAULT_RULE
) -> ItemScore:
    answer = score_answer(
        prediction, item.answer, item.task, item.options, item.fact, judge, question=item.question, rule=rule
    )
    return ItemScore(
        id=item.id, split=split, task=item.task, image_answerable=item.image_answerable, **answer._asdict()
    )


def summarise(answers: Sequence[AnswerScore], tasks: Sequence[str]) -> dict[str, float]:
    """Means of a flat list of answers: each metric over the items it applies to, and one per task.

    Unscored answers are left out of every mean and counted under `unscored` when there are any.
    """
    means: dict[str, float] = {}
    for name in METRIC_FIELDS:
        values = [getattr(a, name) for a in answers if getattr(a, name) is not None]
        if values:
            means[name] = sum(values) / len(values)
    for task in dict.fromkeys(tasks):
        values = [a.score for a, t in zip(answers, tasks, strict=True) if t == task and a.score is not None]
        if values:
            means[task] = sum(values) / len(values)
    if unscored := sum(a.score is None for a in answers):
        means[UNSCORED] = float(unscored)
    return means


# The metric module's output keys, always all present (None where nothing applies): a fixed schema.
OUTPUT_KEYS: tuple[str, ...] = (*METRIC_FIELDS, *TASKS, UNSCORED)


def prefetch_verdicts(judge: Judge, requests: list[tuple[str, str, str, str]]) -> None:
    """A judge that can batch (the LLM judge: parallel requests) gets every verdict asked up front;
    `requests` are (question, prediction, reference, fact) of the generation items."""
    if (prefetch := getattr(judge, "prefetch", None)) is not None:
        prefetch(requests)


def score_answers(
    predictions: Sequence[str],
    references: Sequence[str],
    tasks: Sequence[str],
    options: Sequence[Sequence[str]],
    facts: Sequence[str],
    judge: Judge,
    questions: Sequence[str] | None = None,
    rule: ScoringRule = DEFAULT_RULE,
) -> list[AnswerScore]:
    """`score_answer` over parallel lists (the `evaluate` module's inputs); verdicts asked up front."""
    n = len(predictions)
    questions = [""] * n if questions is None else questions
    columns = {"references": references, "tasks": tasks, "options": options, "facts": facts}
    for name, column in {**columns, "questions": questions}.items():
        if len(column) != n:
            raise MedForgetError(f"{name} has {len(column)} entries for {n} predictions")
    for task in dict.fromkeys(tasks):
        check_choice("task", task, TASKS)
    check_choice("scoring rule", rule, SCORING_RULES)  # the metric module's `rule` arrives here unchecked
    rows = list(zip(predictions, references, tasks, options, facts, questions, strict=True))
    prefetch_verdicts(judge, [(q, p, r, f) for p, r, t, _, f, q in rows if t == "generation"])
    return [score_answer(p, r, t, o, f, judge, question=q, rule=rule) for p, r, t, o, f, q in rows]


def metric_outputs(
    answers: Sequence[AnswerScore], tasks: Sequence[str], per_item: bool = False
) -> dict[str, float | None] | dict[str, list]:
    """Every key of OUTPUT_KEYS: means (`summarise`), or per item lists when `per_item`.

    Per item, a metric that does not apply and a task key of another task are None, and
    `unscored` is True for an item the judge gave no verdict.
    """
    if per_item:
        outputs: dict[str, list] = {name: [getattr(a, name) for a in answers] for name in METRIC_FIELDS}
        for task in TASKS:
            outputs[task] = [a.score if t == task else None for a, t in zip(answers, tasks, strict=True)]
        outputs[UNSCORED] = [a.score is None for a in answers]
        return outputs
    means = summarise(answers, tasks)
    return {key: means.get(key, 0.0 if key == UNSCORED else None) for key in OUTPUT_KEYS}


def _generation_mean(task: str, values: Iterable[float | None]) -> float | None:
    """A generation-only metric's mean (None for other tasks, and when no item has it)."""
    return finite_mean(values, empty=None) if task == "generation" else None


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
                rouge_l=_generation_mean(task, (i.rouge_l for i in group)),
                factuality=_generation_mean(task, (i.factuality for i in group)),
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


# The reported utility (design §10): the report-only retain ∪ sibling, which no method or selection read.
REPORTED_UTILITY = "retain_sibling"


def utility_means(items: list[ItemScore]) -> dict[str, float]:
    """Holdout: image-answerable items only (an unseen patient's identity is unknowable); retain: all;
    retain_sibling (the reported utility): every item of the report-only retain and sibling splits."""
    holdout = [
        i.score for i in items if i.split == HOLDOUT_SPLIT and i.image_answerable and i.score is not None
    ]
    retain = [i.score for i in items if i.split == "retain" and i.score is not None]
    reported = [i.score for i in items if i.split in ("retain", "sibling") and i.score is not None]
    return {
        HOLDOUT_SPLIT: sum(holdout) / len(holdout) if holdout else math.nan,
        "retain": sum(retain) / len(retain) if retain else math.nan,
        REPORTED_UTILITY: sum(reported) / len(reported) if reported else math.nan,
    }


def utility_scores(items: list[ItemScore], reference: Results) -> dict[str, UtilityScore]:
    """Holdout and retain means of `items` relative to the reference's (vanilla's)."""
    mine, theirs = utility_means(items), utility_means(reference.items)
    return {
        name: UtilityScore(
            score=mine[name], reference=theirs[name], relative=relative(mine[name], theirs[name])
        )
        for name in mine
    }


def with_utility(results: Results, reference: Results) -> Results:
    """`results` with utility against `reference`; vanilla is its own reference (relative utility 1)."""
    return results.model_copy(update={"utility": utility_scores(results.items, reference)})


def _score_all(
    items_by_split: dict[str, list[QAItem]], predictions: dict[str, str], judge: Judge, rule: ScoringRule
) -> list[ItemScore]:
    prefetch_verdicts(
        judge,
        [
            (item.question, predictions[item.id], item.answer, item.fact)
            for items in items_by_split.values()
            for item in items
            if item.task == "generation"
        ],
    )
    return [
        score_item(item, split, predictions[item.id], judge, rule)
        for split, items in items_by_split.items()
        for item in items
    ]


def score_predictions(
    items_by_split: dict[str, list[QAItem]],
    predictions: dict[str, str],
    metadata: SubmissionMetadata,
    judge: Judge,
    dataset_hash: str,
    reference: Results | None = None,
    seed: int = 0,
    text_only: dict[str, str] | None = None,
    rule: ScoringRule = DEFAULT_RULE,
) -> Results:
    """Score every item (image+text, and text-only when given), aggregate, and compare to a reference."""
    check_choice("scoring rule", rule, SCORING_RULES)
    scored = _score_all(items_by_split, predictions, judge, rule)
    scores = aggregate(scored, seed=seed)
    utility = utility_scores(scored, reference) if reference is not None else None
    text_only_results = None
    if text_only:
        scored_text = _score_all(items_by_split, text_only, judge, rule)
        text_scores = aggregate(scored_text, seed=seed)
        text_only_results = ModalityResults(
            scores=text_scores,
            gaps=split_gaps(text_scores),
            unscored=sum(i.score is None for i in scored_text),
            items=scored_text,
        )
    gaps = split_gaps(scores)
    return Results(
        dataset_hash=dataset_hash,
        level=metadata.level,
        metadata=metadata,
        judge={"name": judge.name, "version": judge.version},
        rule=rule,
        scores=scores,
        gaps=gaps,
        utility=utility,
        unscored=sum(i.score is None for i in scored),
        items=scored,
        text_only=text_only_results,
        mean_gaps=mean_gaps(scored, gaps),
        memorisation=memorisation(scored),
    )
