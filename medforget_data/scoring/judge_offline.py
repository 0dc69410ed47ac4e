"""The offline factuality judge: clinical findings with negation, and exact identity facts.

Negation follows NegEx (Chapman et al., 2001): a finding mention is negated by a pre-negation
trigger before it or a post-negation trigger after it within the same clause, unless the trigger
is part of a pseudo-negation ("no change in"). We implement the scoping here instead of using
negspacy: spaCy's thinc imports torch whenever torch is installed (3 s, and design §2 forbids the
scoring layer from loading torch), and at ~12k docs/s its pipeline is 4x slower than this.
"""

from __future__ import annotations

import re
from functools import lru_cache

from medforget_data.dataset.findings import FINDING_SYNONYMS
from medforget_data.scoring.normalise import normalise

JUDGE_NAME = "offline"
JUDGE_VERSION = "offline-findings-negex-v2"

PRESENT, ABSENT = "present", "absent"
# NegEx's trigger classes (Chapman et al., 2001), the core of its English clinical list.
PRE_NEGATIONS: tuple[str, ...] = (
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
# After the finding: "effusion has resolved", "pneumothorax is not seen".
POST_NEGATIONS: tuple[str, ...] = (
    "is ruled out",
    "are ruled out",
    "has resolved",
    "have resolved",
    "resolved",
    "is absent",
    "are absent",
    "not seen",
    "not identified",
    "not present",
    "no longer seen",
    "no longer present",
)
# Look like negations but are not: "no change in the effusion" affirms the effusion.
PSEUDO_NEGATIONS: tuple[str, ...] = (
    "no change",
    "no interval change",
    "no significant change",
    "not only",
    "no increase",
    "not increased",
    "no decrease",
    "cannot be excluded",
    "cannot be ruled out",
    "not excluded",
    "not ruled out",
)
NEGATION_TRIGGERS: tuple[str, ...] = (*PRE_NEGATIONS, *POST_NEGATIONS)


def _alternation(phrases: tuple[str, ...]) -> re.Pattern[str]:
    ordered = sorted(phrases, key=len, reverse=True)  # longest first, so "no evidence of" beats "no"
    return re.compile(r"\b(?:" + "|".join(re.escape(p) for p in ordered) + r")\b")


# Clause boundaries (NegEx's termination terms) end a trigger's scope ("no effusion but cardiomegaly").
_CLAUSE = re.compile(r"[.;:!?\n]|\b(?:but|however|although|except|which|with the exception of)\b")
_PRE, _POST, _PSEUDO = (
    _alternation(PRE_NEGATIONS),
    _alternation(POST_NEGATIONS),
    _alternation(PSEUDO_NEGATIONS),
)
_PHRASES = sorted(
    ((phrase, kind) for kind, phrases in FINDING_SYNONYMS.items() for phrase in phrases),
    key=lambda pair: -len(pair[0]),
)
_MENTION = re.compile(r"\b(" + "|".join(re.escape(p) for p, _ in _PHRASES) + r")\b")
_KIND_OF = dict(_PHRASES)


def _outside(matches: list[re.Match[str]], blocked: list[tuple[int, int]]) -> list[re.Match[str]]:
    return [m for m in matches if not any(start <= m.start() < end for start, end in blocked)]


@lru_cache(maxsize=200_000)
def finding_status(text: str) -> dict[str, str]:
    """Each finding kind the text mentions → present or absent (an affirmed mention wins)."""
    status: dict[str, str] = {}
    for clause in _CLAUSE.split(text.lower()):
        if not clause or not (mentions := list(_MENTION.finditer(clause))):
            continue
        pseudo = [m.span() for m in _PSEUDO.finditer(clause)]
        before = [m.end() for m in _outside(list(_PRE.finditer(clause)), pseudo)]
        after = [m.start() for m in _outside(list(_POST.finditer(clause)), pseudo)]
        for mention in mentions:
            kind = _KIND_OF[mention.group(1)]
            negated = any(end <= mention.start() for end in before) or any(
                start >= mention.end() for start in after
            )
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
