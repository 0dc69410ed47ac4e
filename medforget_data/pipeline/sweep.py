"""A method's sweep (design §10): every point of its strength grid scored on what the unlearner may see,
the operating point chosen by a fixed, recorded rule.

A point is (a setting of the grid's fields, an epoch of a loss method's trajectory, a scale s of
θ₀ + s·(θ − θ₀)). Each is scored by teacher-forced exact match (models/teacher_forced.py): on `forget`,
and for utility on a seeded sample of `unlearn_retain` ∪ `unlearn_sibling` relative to vanilla's.
Points stream past: only the weights of the best point so far (and of the mildest, reported if none
reaches the floor) are kept, so a sweep holds at most two copies of the model beside the one training.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from medforget_data import progress
from medforget_data.dataset.examples import Example
from medforget_data.errors import MedForgetError
from medforget_data.methods import get_method, make_config
from medforget_data.methods.base import StrengthGrid, UnlearnSplits
from medforget_data.methods.trainer import LossMethod
from medforget_data.models.teacher_forced import teacher_forced_exact_match
from medforget_data.scoring.aggregate import mean_ci
from medforget_data.scoring.selection import (
    SweepPoint,
    SweepRecord,
    floor_order,
    mildest_order,
    select_at_floor,
    select_oracle_match,
)

# Utility items scored per point (a seeded sample of the unlearner's retain ∪ sibling; forget is never
# capped): ±0.06 at 95% on an exact-match rate near 0.5, and a fraction of a generation pass per point.
SELECTION_UTILITY_ITEMS = 256


@dataclass(frozen=True)
class SelectionSet:
    forget: list[Example]
    utility: list[Example]  # a seeded sample of unlearn_retain ∪ unlearn_sibling
    sibling_ids: frozenset[str]  # which of them are unlearn_sibling items (the curves' sibling score)


def selection_set(splits: UnlearnSplits, seed: int, cap: int = SELECTION_UTILITY_ITEMS) -> SelectionSet:
    pool = splits.unlearn_retain + splits.unlearn_sibling
    if len(pool) > cap:
        keep = np.sort(np.random.default_rng([seed, 31]).choice(len(pool), cap, replace=False))
        pool = [pool[i] for i in keep]
    siblings = frozenset(e.item.id for e in splits.unlearn_sibling)
    return SelectionSet(forget=list(splits.forget), utility=pool, sibling_ids=siblings)


@dataclass(frozen=True)
class RawScores:
    forget: list[float]  # per forget item, 1.0 / 0.0
    utility: float  # exact-match rate on the utility sample
    sibling: float | None  # on its sibling items (None: the sample holds none)


def _rate(values: list[bool]) -> float | None:
    return sum(values) / len(values) if values else None


def raw_scores(model, processor, selection: SelectionSet, batch_size: int) -> RawScores:
    exact = teacher_forced_exact_match(model, processor, selection.forget + selection.utility, batch_size)
    utility = [exact[e.item.id] for e in selection.utility]
    sibling = [exact[e.item.id] for e in selection.utility if e.item.id in selection.sibling_ids]
    return RawScores(
        forget=[float(exact[e.item.id]) for e in selection.forget],
        utility=_rate(utility) or 0.0,
        sibling=_rate(sibling),
    )


def interpolate_into(target: torch.nn.Module, start: dict, end: dict, scale: float) -> None:
    """target ← start + scale·(end − start), parameter by parameter (non-float buffers from `end`)."""
    with torch.no_grad():
        state = {
            name: start[name] + scale * (value - start[name]) if value.is_floating_point() else value
            for name, value in end.items()
        }
        target.load_state_dict(state)


def snapshot(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {name: value.detach().to("cpu", copy=True) for name, value in model.state_dict().items()}


class PointStream:
    """Scores the points as they come and keeps the weights of the best so far under the floor rule
    and of the mildest (most utility), the only two a sweep may return."""

    def __init__(
        self, model, processor, selection: SelectionSet, scales, floor: float, seed: int, batch: int
    ):
        self.processor, self.selection, self.scales = processor, selection, scales
        self.floor, self.seed, self.batch = floor, seed, batch
        self.vanilla_state = snapshot(model)
        self.vanilla = raw_scores(model, processor, selection, batch)
        self.scratch = copy.deepcopy(model)
        self.points: list[SweepPoint] = []
        self.kept: dict[str, tuple[int, dict]] = {}

    @property
    def vanilla_forget(self) -> float:
        return float(np.mean(self.vanilla.forget)) if self.vanilla.forget else 0.0

    def consider(self, trained: dict, setting: dict, scales: tuple[float, ...] | None = None) -> None:
        """Every scale (the grid's, or `scales`) of one trained state (θ): θ₀ + s·(θ − θ₀) scored and
        recorded."""
        for scale in scales or self.scales:
            interpolate_into(self.scratch, self.vanilla_state, trained, scale)
            scores = raw_scores(self.scratch, self.processor, self.selection, self.batch)
            mean, low, high = mean_ci(scores.forget, seed=self.seed) if scores.forget else (0.0, 0.0, 0.0)
            vanilla = self.vanilla.utility
            point = SweepPoint(
                setting={**setting, "scale": scale},
                forget=mean,
                forget_ci=(low, high),
                # a vanilla that answers no utility item exactly: every point keeps all of its (none)
                utility=scores.utility / vanilla if vanilla > 0 else 1.0,
                sibling=scores.sibling,
            )
            index = len(self.points)
            self.points.append(point)
            for rule, order, eligible in (
                ("floor", floor_order, point.utility >= self.floor),
                ("mildest", mildest_order, True),
            ):
                best = self.kept.get(rule)
                if eligible and (best is None or order(point, index) < order(self.points[best[0]], best[0])):
                    self.kept[rule] = (index, snapshot(self.scratch))

    def model_at(self, chosen: int | None):
        """The model at the floor rule's point, or at the mildest when it chose none."""
        index, state = self.kept["mildest" if chosen is None else "floor"]
        if chosen not in (None, index):  # the streamed choice and the recorded rule must agree
            raise MedForgetError(f"sweep: kept point {index}, the rule chose {chosen}")
        self.scratch.load_state_dict(state)
        return self.scratch


def sweep(
    method_name: str,
    model,
    processor,
    splits: UnlearnSplits,
    overrides: dict,
    floor: float,
    oracle_forget: float | None = None,
    grid: StrengthGrid | None = None,
    batch_size: int = 32,
):
    """(the model at the ranked choice — at the mildest point when none reaches the floor —, its record).

    `model` is vanilla and is not changed; `overrides` are the run's (seed, LoRA rank) and the user's.
    """
    method = get_method(method_name)
    grid = grid or method.grid
    base = make_config(method_name, overrides)
    if getattr(base, "lora_rank", None):  # the adapters' weights are named apart from vanilla's
        raise MedForgetError("a sweep over LoRA adapters is not supported yet: run with --sweep none")
    selection = selection_set(splits, base.seed)
    stream = PointStream(model, processor, selection, grid.scales, floor, base.seed, batch_size)
    for setting in progress.bar(grid.settings(), desc=f"sweeping {method_name}", unit="setting"):
        config = make_config(method_name, {**overrides, **setting})
        start = copy.deepcopy(model)
        if grid.every_epoch and isinstance(method, LossMethod):

            def after_epoch(epoch: int, trained, setting: dict = setting, last: int = config.epochs) -> None:
                # the trajectory at s = 1; every scale only after the last epoch (StrengthGrid)
                scales = None if epoch + 1 == last else (1.0,)
                stream.consider(snapshot(trained), {**setting, "epoch": epoch + 1}, scales)

            method.unlearn(start, processor, splits, config, on_epoch=after_epoch)
        else:
            stream.consider(snapshot(method.unlearn(start, processor, splits, config)), dict(setting))
        del start
    selections = [select_at_floor(stream.points, stream.vanilla_forget, floor)]
    if oracle_forget is not None:
        selections.append(select_oracle_match(stream.points, oracle_forget))
    record = SweepRecord(
        grid=grid.model_dump(mode="json"),
        base_config=base.model_dump(mode="json"),
        utility_items=len(selection.utility),
        vanilla_forget=stream.vanilla_forget,
        vanilla_utility=stream.vanilla.utility,
        vanilla_sibling=stream.vanilla.sibling,
        oracle_forget=oracle_forget,
        points=stream.points,
        selections=selections,
    )
    return stream.model_at(selections[0].chosen), record
