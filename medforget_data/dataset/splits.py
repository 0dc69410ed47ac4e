"""Targets and splits per level (design §6, §10).

An item's node path is (institution, patient, study, section-or-None); at level L its
node is the prefix of that path down to L. A section-level node exists only for section
facts: a study's own facts sit at study depth, so they are never siblings of a section.

The unlearner's halves: a seeded half of the retain nodes (`unlearn_retain`) and of each target
parent's sibling nodes (`unlearn_sibling`) are what a method may train and select on; the other
halves stay `retain` and `sibling`, report-only. Rephrasings of the unlearner's nodes are in no
level split: they would let a selection reach the reported wordings' facts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable

import numpy as np
from pydantic import BaseModel, ConfigDict

from medforget_data.constants import (
    HOLDOUT_SPLIT,
    LEVEL_SPLITS,
    LEVELS,
    PARTITION_SPLITS,
    UNLEARNER_SPLITS,
    Level,
)
from medforget_data.dataset.schema import Hierarchy, QAItem

Node = tuple[str, ...]
TARGET_FRACTION = 0.05  # of patients, studies and sections; the institution level forgets one


class LevelTargets(BaseModel):
    """The forget targets of one level, and the nodes of the unlearner's halves, as node paths."""

    model_config = ConfigDict(frozen=True)

    level: Level
    targets: tuple[Node, ...]
    unlearn_retain: tuple[Node, ...] = ()
    unlearn_sibling: tuple[Node, ...] = ()


def item_path(item: QAItem) -> Node:
    return (item.institution_id, item.patient_id, item.study_id, item.section or "")


def node_at(item: QAItem, level: Level) -> Node | None:
    """The item's node at `level`; None when it has no node that deep (study facts at section level)."""
    depth = LEVELS.index(level) + 1
    path = item_path(item)
    if level == "section" and not item.section:
        return None
    return path[:depth]


def unit_at(item: QAItem, level: Level) -> Node:
    """The node an item is split by: its node at `level`, or its study for a study fact at section level."""
    return node_at(item, level) or item_path(item)[: LEVELS.index(level)]


def parent_key(node: Node, level: Level, health_system: dict[str, str]) -> Hashable:
    """The parent that defines siblings: the health system for institutions, else the path prefix."""
    if level == "institution":
        return ("system", health_system[node[0]])
    return node[:-1]


def level_nodes(items: list[QAItem], level: Level) -> list[Node]:
    return sorted({n for item in items if (n := node_at(item, level)) is not None})


def choose_targets(items: list[QAItem], hierarchy: Hierarchy, level: Level, seed: int) -> LevelTargets:
    """Seeded targets of `level`, each keeping a non-target sibling under its parent. The targets'
    siblings are then halved between the unlearner and the report (design §10), so they number at
    least two: a lone target is drawn under a parent of three or more children when there is one, and
    in a hierarchy without such a parent further targets are drawn until their siblings are two."""
    health_system = hierarchy.health_systems()
    nodes = level_nodes(items, level)
    by_parent: dict[Hashable, list[Node]] = defaultdict(list)
    for node in nodes:
        by_parent[parent_key(node, level, health_system)].append(node)
    wanted = 1 if level == "institution" else max(1, round(TARGET_FRACTION * len(nodes)))
    order = np.random.default_rng([seed, 3, LEVELS.index(level)]).permutation(len(nodes))
    parent_of = {node: parent_key(node, level, health_system) for node in nodes}

    def draw(children_needed: int, enough: Callable[[list[Node], dict[Hashable, int]], bool]) -> list[Node]:
        remaining = {parent: len(children) for parent, children in by_parent.items()}
        targets: list[Node] = []
        for index in order:
            parent = parent_of[nodes[index]]
            if remaining[parent] >= children_needed:
                targets.append(nodes[index])
                remaining[parent] -= 1
                if enough(targets, remaining):
                    break
        return targets

    def siblings_left(targets: list[Node], remaining: dict[Hashable, int]) -> int:
        return sum(remaining[parent] for parent in {parent_of[node] for node in targets})

    targets = draw(3 if wanted == 1 else 2, lambda chosen, _: len(chosen) == wanted)
    if not targets:  # no parent of three: more targets until their siblings are two
        targets = draw(2, lambda chosen, left: len(chosen) >= wanted and siblings_left(chosen, left) >= 2)
    if not targets:
        raise ValueError(f"no {level} node has a sibling; the hierarchy is too small")
    return LevelTargets(level=level, targets=tuple(sorted(targets)))


def report_assigner(hierarchy: Hierarchy, level: Level, targets: tuple[Node, ...]) -> Callable[[QAItem], str]:
    """A function item -> 'forget' | 'sibling' | 'retain' by the targets alone (before any halving)."""
    health_system = hierarchy.health_systems()
    target_nodes = set(targets)
    target_parents = {parent_key(node, level, health_system) for node in target_nodes}

    def assign(item: QAItem) -> str:
        node = node_at(item, level)
        if node is None:
            return "retain"
        if node in target_nodes:
            return "forget"
        if parent_key(node, level, health_system) in target_parents:
            return "sibling"
        return "retain"

    return assign


def _seeded_half(nodes: list[Node], rng: np.random.Generator) -> list[Node]:
    """Half of `nodes` (an odd one out goes either way by a coin)."""
    count = len(nodes) // 2 + (len(nodes) % 2) * int(rng.integers(2))
    return [nodes[index] for index in sorted(rng.permutation(len(nodes))[:count])]


def choose_unlearner_nodes(
    items: list[QAItem], hierarchy: Hierarchy, targets: LevelTargets, seed: int
) -> LevelTargets:
    """`targets` with the unlearner's halves: a seeded half of the retain nodes and of each target
    parent's sibling nodes. Each of the four halves is non-empty, or the hierarchy is too small."""
    level = targets.level
    assign = report_assigner(hierarchy, level, targets.targets)
    health_system = hierarchy.health_systems()
    retain = sorted({unit_at(item, level) for item in items if assign(item) == "retain"})
    siblings: dict[Hashable, set[Node]] = defaultdict(set)
    for item in items:
        if assign(item) == "sibling":
            node = unit_at(item, level)
            siblings[parent_key(node, level, health_system)].add(node)
    rng = np.random.default_rng([seed, 4, LEVELS.index(level)])
    unlearn_retain = _seeded_half(retain, rng)
    unlearn_sibling = [
        node for parent in sorted(siblings) for node in _seeded_half(sorted(siblings[parent]), rng)
    ]
    every_sibling = [node for parent in sorted(siblings) for node in sorted(siblings[parent])]
    sibling_count = len(every_sibling)
    # targets of one sibling each: their coins may send every sibling one way; move one, seeded
    if sibling_count >= 2 and len(unlearn_sibling) in (0, sibling_count):
        moved = every_sibling[int(rng.integers(sibling_count))]
        unlearn_sibling = [moved] if not unlearn_sibling else [n for n in unlearn_sibling if n != moved]
    if not (0 < len(unlearn_retain) < len(retain) and 0 < len(unlearn_sibling) < sibling_count):
        raise ValueError(
            f"{level}: {len(retain)} retain and {sibling_count} sibling nodes cannot be halved between "
            "the unlearner and the report; the hierarchy is too small"
        )
    return targets.model_copy(
        update={
            "unlearn_retain": tuple(sorted(unlearn_retain)),
            "unlearn_sibling": tuple(sorted(unlearn_sibling)),
        }
    )


def split_assigner(hierarchy: Hierarchy, targets: LevelTargets) -> Callable[[QAItem], str]:
    """A function item -> its split at the level of `targets` (forget, retain, sibling, an unlearner half)."""
    report = report_assigner(hierarchy, targets.level, targets.targets)
    halves = {node: split for split in UNLEARNER_SPLITS for node in getattr(targets, split)}

    def assign(item: QAItem) -> str:
        split = report(item)
        return split if split == "forget" else halves.get(unit_at(item, targets.level), split)

    return assign


def partition(items: list[QAItem], hierarchy: Hierarchy, targets: LevelTargets) -> dict[str, list[QAItem]]:
    """Original items by split (forget, retain, sibling, the unlearner's halves) and rephrased items of the
    reported ones by `<split>_rephrased`; the unlearner's rephrasings are in no split."""
    assign = split_assigner(hierarchy, targets)
    splits: dict[str, list[QAItem]] = {name: [] for name in LEVEL_SPLITS if name != HOLDOUT_SPLIT}
    for item in items:
        split = assign(item)
        if item.variant == "original":
            splits[split].append(item)
        elif split in PARTITION_SPLITS:
            splits[f"{split}_rephrased"].append(item)
    return splits
