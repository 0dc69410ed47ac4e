"""The one interface every method implements: `unlearn(model, processor, splits, config) -> model`."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field

from medforget_data.dataset.schema import QAItem
from medforget_data.dataset.splits import node_at, parent_key
from medforget_data.models.examples import Example


class MethodConfig(BaseModel):
    """Base of every method's config: seeded, and strict about unknown keys."""

    # no NaN or infinity in any float field: `--set lr=nan` is refused, not trained with
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    seed: int = Field(default=0, ge=0)


@dataclass(frozen=True)
class UnlearnSplits:
    """What a method may see: a level's forget, retain and sibling examples, and the hierarchy's systems."""

    level: str
    forget: list[Example]
    retain: list[Example]
    sibling: list[Example]
    health_system: dict[str, str] = field(default_factory=dict)  # institution id → system (sibling parents)
    dataset_dir: str | None = None  # the oracle retrains from the dataset

    def node(self, item: QAItem) -> tuple[str, ...] | None:
        return node_at(item, self.level)

    def parent(self, item: QAItem) -> Hashable | None:
        node = self.node(item)
        return None if node is None else parent_key(node, self.level, self.health_system)


class Method(Protocol):
    name: ClassVar[str]
    config_class: ClassVar[type[MethodConfig]]

    def unlearn(self, model, processor, splits: UnlearnSplits, config: MethodConfig): ...


def load_unlearn_splits(dataset_dir, level: str) -> UnlearnSplits:
    """A level's forget/retain/sibling examples (with images) from a built dataset folder."""
    import json
    from pathlib import Path

    from medforget_data.constants import LEVELS
    from medforget_data.dataset.manifest import HIERARCHY_FILE
    from medforget_data.errors import check_choice
    from medforget_data.models.examples import read_examples

    check_choice("level", level, LEVELS)
    folder = Path(dataset_dir)
    hierarchy = json.loads((folder / HIERARCHY_FILE).read_text(encoding="utf-8"))
    return UnlearnSplits(
        level=level,
        forget=read_examples(folder, level, "forget"),
        retain=read_examples(folder, level, "retain"),
        sibling=read_examples(folder, level, "sibling"),
        health_system={i["id"]: i["health_system"] for i in hierarchy["institutions"]},
        dataset_dir=str(folder),
    )
