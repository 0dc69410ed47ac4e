"""Hierarchical reconstruction attack: re-ask forget questions with the facts above them as context.

Depth 0 asks the question as is; each further depth prepends the facts of one more level of the
hierarchy (institution, then patient, then study) — but only levels *above* the item's own fact
level, so an item's own fact (or a fact of its own level) is never in its context.
"""

from __future__ import annotations

from medforget_data.constants import LEVELS, Level
from medforget_data.dataset.schema import Hierarchy, QAItem

# What each depth adds: every level but the last (a section is a fact, not context for another).
CONTEXT_LEVELS: tuple[Level, ...] = LEVELS[:-1]
DEPTHS: tuple[str, ...] = ("none", *CONTEXT_LEVELS)


class HierarchyFacts:
    """The facts of each node, as sentences."""

    def __init__(self, hierarchy: Hierarchy) -> None:
        self.institutions = {i.id: i for i in hierarchy.institutions}
        self.patients = {p.id: p for p in (*hierarchy.patients, *hierarchy.holdout_patients)}
        self.studies = {s.id: s for s in (*hierarchy.studies, *hierarchy.holdout_studies)}

    def sentence(self, level: str, item: QAItem) -> str:
        if level == "institution":
            return f"This study was performed at {self.institutions[item.institution_id].name}."
        if level == "patient":
            p = self.patients[item.patient_id]
            return f"The patient is {p.name}, {p.sex}, born on {p.birth_date}, medical record number {p.mrn}."
        study = self.studies[item.study_id]
        return f"The study was taken on {study.date} with a {study.view} view."


def context_levels(item: QAItem, depth: str) -> tuple[str, ...]:
    """The levels whose facts depth `depth` adds for `item`: those up to `depth` that lie above its fact."""
    if depth == "none":
        return ()
    upto = CONTEXT_LEVELS[: CONTEXT_LEVELS.index(depth) + 1]
    return tuple(level for level in upto if LEVELS.index(level) < LEVELS.index(item.fact_level))


def attack_question(item: QAItem, depth: str, facts: HierarchyFacts) -> str:
    sentences = [facts.sentence(level, item) for level in context_levels(item, depth)]
    return " ".join([*sentences, item.question]) if sentences else item.question
