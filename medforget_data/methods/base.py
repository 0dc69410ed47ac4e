"""The one interface every method implements: `unlearn(model, processor, splits, config) -> model`."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from medforget_data.constants import LEVELS, UNLEARNER_VIEW
from medforget_data.dataset.built import BuiltDataset
from medforget_data.dataset.examples import Example
from medforget_data.dataset.schema import QAItem
from medforget_data.dataset.splits import node_at, parent_key
from medforget_data.errors import check_choice


class MethodConfig(BaseModel):
    """Base of every method's config: seeded, and strict about unknown keys."""

    # no NaN or infinity in any float field: `--set lr=nan` is refused, not trained with
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    seed: int = Field(default=0, ge=0)


@dataclass(frozen=True)
class UnlearnSplits:
    """What a method may see (design §10), and nothing else: a level's `forget` examples and the
    unlearner's halves, `unlearn_retain` and `unlearn_sibling`, with the hierarchy's systems (sibling
    parents). The report-only splits (`retain`, `sibling`, every rephrasing, `holdout`) never reach it."""

    level: str
    forget: list[Example]
    unlearn_retain: list[Example]
    unlearn_sibling: list[Example]
    health_system: dict[str, str] = field(default_factory=dict)  # institution id → system (sibling parents)

    def node(self, item: QAItem) -> tuple[str, ...] | None:
        return node_at(item, self.level)

    def parent(self, item: QAItem) -> Hashable | None:
        node = self.node(item)
        return None if node is None else parent_key(node, self.level, self.health_system)


# (epoch, model) after each epoch of a loss method: a sweep reads the trajectory
EpochHook = Callable[[int, Any], None]


class StrengthGrid(BaseModel):
    """A method's strength axis (design §10): config fields swept over (the product of their values),
    `extra` settings run beside that product (e.g. NPO's β at one learning rate, not at all three),
    whether a loss method is read after every epoch (its trajectory), and the scales s of
    θ₀ + s·(θ − θ₀), the interpolation with vanilla (s > 1 extrapolates a training-free edit). A
    trajectory is read at s = 1 after every epoch and at every scale after its last: a milder scale of
    an earlier epoch repeats points the trajectory already has, and each point costs a scoring pass."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    fields: dict[str, tuple[float, ...]] = {}
    extra: tuple[dict[str, float], ...] = ()
    every_epoch: bool = False
    scales: tuple[float, ...] = (1.0,)

    @field_validator("fields")
    @classmethod
    def _values_given(cls, fields: dict[str, tuple[float, ...]]) -> dict[str, tuple[float, ...]]:
        empty = [name for name, values in fields.items() if not values]
        if empty:
            raise ValueError(f"no values to sweep for {', '.join(empty)}")
        return fields

    @field_validator("scales")
    @classmethod
    def _scales_positive(cls, scales: tuple[float, ...]) -> tuple[float, ...]:
        if not scales or min(scales) <= 0:
            raise ValueError("scales must be a non-empty list of positive numbers")
        return scales

    def settings(self) -> list[dict[str, float]]:
        """Every combination of the swept field values (fields in name order), then the extra ones."""
        names = sorted(self.fields)
        combined = [
            dict(zip(names, values, strict=True)) for values in product(*(self.fields[n] for n in names))
        ]
        extra = [dict(sorted(setting.items())) for setting in self.extra if setting not in combined]
        return combined + extra


class Method:
    """A registered method: a name, a config class with the defaults registered for that name, its
    strength grid, and `unlearn`. It holds nothing between calls: what one call needs is built inside
    it, so one object serves every level, seed and thread; the caller times the call (methods/apply.py).
    """

    config_class: ClassVar[type[MethodConfig]] = MethodConfig

    def __init__(self, name: str, grid: StrengthGrid | None = None, **defaults: object) -> None:
        self.name = name
        self.grid = grid or StrengthGrid()
        self.defaults = defaults  # e.g. `kl` is GradDiff with retain_loss="kl"

    def config(self, **overrides: object) -> MethodConfig:
        return self.config_class(**{**self.defaults, **overrides})

    def unlearn(self, model, processor, splits: UnlearnSplits, config: MethodConfig):
        raise NotImplementedError


def load_unlearn_splits(dataset: BuiltDataset | Path, level: str) -> UnlearnSplits:
    """A level's unlearner view (forget and the unlearner's halves, with images) from a built dataset."""
    check_choice("level", level, LEVELS)
    dataset = BuiltDataset.of(dataset)
    forget, unlearn_retain, unlearn_sibling = (dataset.examples(level, split) for split in UNLEARNER_VIEW)
    return UnlearnSplits(
        level=level,
        forget=forget,
        unlearn_retain=unlearn_retain,
        unlearn_sibling=unlearn_sibling,
        health_system=dataset.hierarchy().health_systems(),
    )
