"""Per-item metrics: exact match (classification, cloze), ROUGE-L F1 and the generation total."""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Literal, get_args

from rouge_score import rouge_scorer

from medforget_data.scoring.normalise import normalise, parse_option

# Metric names, defined once: per-item fields, result keys and the metric module's outputs use these.
SCORE = "score"  # the headline per item: exact match, or the generation total
EXACT_MATCH = "exact_match"
ROUGE_L = "rouge_l"
FACTUALITY = "factuality"
METRIC_FIELDS: tuple[str, ...] = (SCORE, EXACT_MATCH, ROUGE_L, FACTUALITY)
UNSCORED = "unscored"  # how many items got no judge verdict

# How classification and cloze answers count as correct. project: the option a prediction names
# (robust parsing: `B`, `B)`, `B) text`, the text alone) or the normalised span. published: as the
# published analysis (fengli-wu/MedForget `scripts/analyze_eval_results.py`), only a ROUGE-L F1 of
# 1.0 against the full reference — for classification the whole "C) text" string, so a bare "C" is wrong.
ScoringRule = Literal["project", "published"]
SCORING_RULES: tuple[ScoringRule, ...] = get_args(ScoringRule)
DEFAULT_RULE: ScoringRule = "project"

ROUGE_WEIGHT = 0.25
FACTUALITY_WEIGHT = 0.75


@lru_cache(maxsize=1)
def _scorer() -> rouge_scorer.RougeScorer:
    return rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True)


def rouge_l(prediction: str, reference: str) -> float:
    """ROUGE-L F1 with the Porter stemmer (rouge_score's own tokenisation)."""
    return float(_scorer().score(reference, prediction)["rougeL"].fmeasure)


def answer_letter(answer: str) -> str:
    """'B) cardiomegaly' → 'B' (the dataset's classification answer format)."""
    return answer.split(")", 1)[0].strip().upper()


def exact_match(
    prediction: str, answer: str, task: str, options: Sequence[str] = (), rule: ScoringRule = DEFAULT_RULE
) -> float:
    """1.0 when the prediction gives the answer: the right option (classification) or the span (cloze)."""
    if rule == "published":
        return float(rouge_l(prediction, answer) == 1.0)
    if task == "classification":
        return float(parse_option(prediction, options) == answer_letter(answer))
    return float(normalise(prediction) == normalise(answer))


def generation_total(rouge: float, factuality: float) -> float:
    """total = 0.25·ROUGE-L + 0.75·factuality."""
    return ROUGE_WEIGHT * rouge + FACTUALITY_WEIGHT * factuality
