"""Targets and splits per level (design §6).

An item's node path is (institution, patient, study, section-or-None); at level L its
node is the prefix of that path down to L. A section-level node exists only for section
facts: a study's own facts sit at study depth, so they are never siblings of a section.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable

import numpy as np
from pydantic import BaseModel, ConfigDict

from medforget_data.constants import LEVELS, PARTITION_SPLITS, Level
from medforget_data.dataset.schema import Hierarchy, QAItem

Node = tuple[str, ...]
TARGET_FRACTION = 0.05  # of patients, studies and sections; the institution level forgets one


class LevelTargets(BaseModel):
    """The forget targets of one level, as node paths."""

    model_config = ConfigDict(frozen=True)

    level: Level
    targets: tuple[Node, ...]


def item_path(item: QAItem) -> Node:
    return (item.institution_id, item.patient_id, item.study_id, item.section or "")


def node_at(item: QAItem, level: Level) -> Node | None:
    """The item's node at `level`; None when it has no node that deep (study facts at section level)."""
    depth = LEVELS.index(level) + 1
    path = item_path(item)
    if level == "section" and not item.section:
        return None
    return path[:depth]


def parent_key(node: Node, level: Level, health_system: dict[str, str]) -> Hashable:
    """The parent that defines siblings: the health system for institutions, else the path prefix."""
    if level == "institution":
        return ("system", health_system[node[0]])
    return node[:-1]


def level_nodes(items: list[QAItem], level: Level) -> list[Node]:
    return sorted({n for item in items if (n := node_at(item, level)) is not None})


def choose_targets(items: list[QAItem], hierarchy: Hierarchy, level: Level, seed: int) -> LevelTargets:
    """Seeded targets of `level`, each keeping at least one non-target sibling under its parent."""
    health_system = hierarchy.health_systems()
    nodes = level_nodes(items, level)
    by_parent: dict[Hashable, list[Node]] = defaultdict(list)
    for node in nodes:
        by_parent[parent_key(node, level, health_system)].append(node)
    wanted = 1 if level == "institution" else max(1, round(TARGET_FRACTION * len(nodes)))
    rng = np.random.default_rng([seed, 3, LEVELS.index(level)])
    remaining = {parent: len(children) for parent, children in by_parent.items()}
    targets: list[Node] = []
    for index in rng.permutation(len(nodes)):
        node = nodes[index]
        parent = parent_key(node, level, health_system)
        if remaining[parent] >= 2:  # the target leaves at least one sibling behind
            targets.append(node)
            remaining[parent] -= 1
            if len(targets) == wanted:
                break
    if not targets:
        raise ValueError(f"no {level} node has a sibling; the hierarchy is too small")
    return LevelTargets(level=level, targets=tuple(sorted(targets)))


def split_assigner(hierarchy: Hierarchy, targets: LevelTargets) -> Callable[[QAItem], str]:
    """A function item -> 'forget' | 'sibling' | 'retain' for the level of `targets`."""
    level = targets.level
    health_system = hierarchy.health_systems()
    target_nodes = set(targets.targets)
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


def partition(items: list[QAItem], hierarchy: Hierarchy, targets: LevelTargets) -> dict[str, list[QAItem]]:
    """Original items by split (forget, retain, sibling) and rephrased items by `<split>_rephrased`."""
    assign = split_assigner(hierarchy, targets)
    splits: dict[str, list[QAItem]] = {name: [] for name in PARTITION_SPLITS}
    splits.update({f"{name}_rephrased": [] for name in PARTITION_SPLITS})
    for item in items:
        split = assign(item)
        splits[split if item.variant == "original" else f"{split}_rephrased"].append(item)
    return splits
