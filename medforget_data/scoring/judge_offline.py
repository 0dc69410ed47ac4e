"""The offline factuality judge: clinical findings with negation, and exact identity facts.

Negation follows NegEx (Chapman et al., 2001): a finding mention is negated when a negation
trigger precedes it within the same clause. We implement the trigger scoping here rather than
through negspacy because negspacy needs spaCy's pipeline (and a few hundred MB), and the scorer
must run at thousands of items per second on 2 cores; the trigger list is NegEx's core set.
"""

from __future__ import annotations

import re
from functools import lru_cache

from medforget_data.findings import FINDING_SYNONYMS
from medforget_data.scoring.normalise import normalise

JUDGE_NAME = "offline"
JUDGE_VERSION = "offline-findings-negex-v1"

PRESENT, ABSENT = "present", "absent"
NEGATION_TRIGGERS: tuple[str, ...] = (
    "no",
    "not",
    "without",
    "negative for",
    "no evidence of",
    "no signs of",
    "free of",
    "absence of",
    "resolved",
    "resolution of",
    "rule out",
    "ruled out",
    "clear of",
    "denies",
    "never",
)
# Clause boundaries end a trigger's scope ("no effusion but cardiomegaly").
_CLAUSE = re.compile(r"[.;:!?\n]|\b(?:but|however|although|except|which|with the exception of)\b")
_TRIGGER = re.compile(r"\b(?:" + "|".join(re.escape(t) for t in NEGATION_TRIGGERS) + r")\b")
_PHRASES = sorted(
    ((phrase, kind) for kind, phrases in FINDING_SYNONYMS.items() for phrase in phrases),
    key=lambda pair: -len(pair[0]),
)
_MENTION = re.compile(r"\b(" + "|".join(re.escape(p) for p, _ in _PHRASES) + r")\b")
_KIND_OF = dict(_PHRASES)


@lru_cache(maxsize=200_000)
def finding_status(text: str) -> dict[str, str]:
    """Each finding kind the text mentions → present or absent (an affirmed mention wins)."""
    status: dict[str, str] = {}
    for clause in _CLAUSE.split(text.lower()):
        if not clause or not (mentions := list(_MENTION.finditer(clause))):
            continue
        triggers = [m.end() for m in _TRIGGER.finditer(clause)]
        for mention in mentions:
            kind = _KIND_OF[mention.group(1)]
            negated = any(end <= mention.start() for end in triggers)
            if not negated:
                status[kind] = PRESENT
            else:
                status.setdefault(kind, ABSENT)
    return status


def _content_f1(prediction: str, reference: str) -> float:
    predicted, expected = set(normalise(prediction).split()), set(normalise(reference).split())
    if not predicted or not expected:
        return float(predicted == expected)
    overlap = len(predicted & expected)
    return 2 * overlap / (len(predicted) + len(expected))


def findings_agreement(prediction: str, reference: str) -> float:
    """Share of the findings mentioned by either text on which both agree (present/absent).

    When neither mentions a finding (an indication, say) the judge falls back to word-set F1.
    """
    expected, predicted = finding_status(reference), finding_status(prediction)
    kinds = expected.keys() | predicted.keys()
    if not kinds:
        return _content_f1(prediction, reference)
    return sum(expected.get(k) == predicted.get(k) for k in kinds) / len(kinds)


def identity_agreement(prediction: str, reference: str) -> float:
    """1.0 when the whole identity fact (name, date, id) appears in the prediction, else 0.0."""
    expected = normalise(reference)
    return float(bool(expected) and f" {expected} " in f" {normalise(prediction)} ")


class OfflineJudge:
    """Factuality without a network: the same verdict for the same input, always."""

    name = JUDGE_NAME
    version = JUDGE_VERSION

    def factuality(self, question: str, prediction: str, reference: str, fact: str) -> float | None:
        if fact.startswith("section."):
            return findings_agreement(prediction, reference)
        return identity_agreement(prediction, reference)
