"""A method's sweep (issue 31): every grid point scored, the recorded rule's choice returned, vanilla kept."""

from __future__ import annotations

import copy
import json

import pytest
import torch

from medforget_data.errors import MedForgetError
from medforget_data.methods import METHODS, make_config
from medforget_data.methods.base import StrengthGrid
from medforget_data.pipeline.sweep import (
    interpolate_into,
    raw_scores,
    selection_set,
    snapshot,
    sweep,
)
from medforget_data.scoring.selection import SweepRecord, mildest_order, select_at_floor, select_oracle_match


def test_interpolation_is_vanilla_plus_scale_times_the_change(tiny_vanilla) -> None:
    model = copy.deepcopy(tiny_vanilla[0])
    start = snapshot(model)
    end = {name: value + 0.25 if value.is_floating_point() else value for name, value in start.items()}
    for scale in (0.5, 1.0, 3.0):
        interpolate_into(model, start, end, scale)
        for name, value in model.state_dict().items():
            if value.is_floating_point():  # start + s·0.25, to float32 rounding of that sum
                expected = start[name] + scale * 0.25
                assert torch.allclose(
                    value,
                    expected,
                    rtol=0,
                    atol=4 * torch.finfo(torch.float32).eps * (expected.abs().max() + 1),
                ), (name, scale)


def test_the_selection_sample_is_seeded_and_capped(tiny_vanilla) -> None:
    splits = tiny_vanilla[2]
    pool = {e.item.id for e in splits.unlearn_retain + splits.unlearn_sibling}
    first, again, other = (selection_set(splits, seed, cap=10) for seed in (0, 0, 1))
    assert len(first.utility) == 10 and {e.item.id for e in first.utility} <= pool
    assert [e.item.id for e in first.utility] == [e.item.id for e in again.utility]
    assert [e.item.id for e in first.utility] != [e.item.id for e in other.utility]
    assert first.forget == splits.forget  # forget is never sampled


def test_a_loss_method_sweep_reads_its_trajectory_and_returns_the_chosen_point(tiny_vanilla) -> None:
    model, processor, splits = tiny_vanilla
    before = snapshot(model)
    grid = StrengthGrid(fields={"lr": (1e-3, 1e-2)}, every_epoch=True, scales=(0.5, 1.0))
    overrides = {"epochs": 2, "batch_size": 8}
    chosen, record = sweep(
        "graddiff", model, processor, splits, overrides, floor=0.5, oracle_forget=0.1, grid=grid
    )
    assert all(torch.equal(value, before[name]) for name, value in model.state_dict().items())  # vanilla kept
    # the trajectory at s = 1, every scale after the last epoch only
    assert [p.setting for p in record.points] == [
        {"lr": lr, "epoch": epoch, "scale": scale}
        for lr in (1e-3, 1e-2)
        for epoch, scales in ((1, (1.0,)), (2, (0.5, 1.0)))
        for scale in scales
    ]
    assert min(p.forget for p in record.points) < record.vanilla_forget  # some point did forget
    # every point also scored on the sample's sibling items (the curves' sibling − forget)
    assert record.vanilla_sibling is not None and all(p.sibling is not None for p in record.points)
    # the recorded choices are the rules' own, re-derived from the recorded points
    assert record.selections == [
        select_at_floor(record.points, record.vanilla_forget, 0.5),
        select_oracle_match(record.points, 0.1),
    ]
    index = record.ranked.chosen
    if index is None:
        index = min(range(len(record.points)), key=lambda i: mildest_order(record.points[i], i))
    # the returned model is that point: scored again, independently of the sweep's bookkeeping
    again = raw_scores(chosen, processor, selection_set(splits, 0), batch_size=16)
    assert sum(again.forget) / len(again.forget) == pytest.approx(record.points[index].forget, abs=1e-12)
    assert record.vanilla_utility > 0
    assert again.utility / record.vanilla_utility == pytest.approx(record.points[index].utility, abs=1e-12)
    # the record is plain JSON and reads back equal
    assert SweepRecord.model_validate(json.loads(record.model_dump_json())) == record


def test_a_training_free_sweep_scales_the_edit(tiny_vanilla) -> None:
    model, processor, splits = tiny_vanilla
    grid = StrengthGrid(fields={"top_fraction": (1.0,)}, scales=(1.0, 2.0))
    overrides = {"layer_fraction": 0.5, "max_reference_samples": 32}
    _, record = sweep("chip", model, processor, splits, overrides, floor=0.0, grid=grid)
    assert [p.setting for p in record.points] == [{"top_fraction": 1.0, "scale": s} for s in (1.0, 2.0)]
    # the scale-1 point is CHIP applied once: the same forget score as the method run directly
    direct = METHODS["chip"].unlearn(
        copy.deepcopy(model), processor, splits, make_config("chip", {**overrides, "top_fraction": 1.0})
    )
    forget = raw_scores(direct, processor, selection_set(splits, 0), batch_size=16).forget
    assert record.points[0].forget == pytest.approx(sum(forget) / len(forget), abs=1e-12)


def test_every_default_grid_names_its_methods_config_fields() -> None:
    for name, method in METHODS.items():
        for setting in method.grid.settings():
            make_config(name, setting)  # an unknown field or a bad value is refused here


def test_extra_settings_follow_the_product_once() -> None:
    grid = StrengthGrid(
        fields={"lr": (1.0, 2.0), "beta": (0.1,)},
        extra=({"lr": 2.0, "beta": 0.5}, {"beta": 0.1, "lr": 1.0}),  # the second is in the product already
    )
    assert grid.settings() == [
        {"beta": 0.1, "lr": 1.0},
        {"beta": 0.1, "lr": 2.0},
        {"beta": 0.5, "lr": 2.0},
    ]
    # NPO: three learning rates at the default β, then β 0.05 and 0.5 at the middle one
    assert METHODS["npo"].grid.settings() == [
        {"lr": 5e-5},
        {"lr": 2e-4},
        {"lr": 5e-4},
        {"beta": 0.05, "lr": 2e-4},
        {"beta": 0.5, "lr": 2e-4},
    ]


def test_a_grid_without_values_or_with_a_bad_scale_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        StrengthGrid(fields={"lr": ()})
    with pytest.raises(ValueError, match="positive"):
        StrengthGrid(scales=(0.0, 1.0))
    with pytest.raises(MedForgetError, match="LoRA"):
        sweep(
            "graddiff",
            None,
            None,
            None,
            {"lora_rank": 4},
            floor=0.9,
            grid=StrengthGrid(fields={"lr": (1e-3,)}),
        )
