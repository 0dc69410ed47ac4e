"""Unlearning methods behind one interface (design §8): `method.unlearn(model, processor, splits, config)`."""

from __future__ import annotations

from pydantic import ValidationError

from medforget_data.errors import MedForgetError, check_choice
from medforget_data.methods.base import Method, MethodConfig, StrengthGrid, UnlearnSplits
from medforget_data.methods.chip import CHIP
from medforget_data.methods.forget_mi import ForgetMI
from medforget_data.methods.grad_diff import GradDiff
from medforget_data.methods.npo import NPO
from medforget_data.methods.simple import Oracle, Vanilla

# Default strength grids (design §10). Loss methods: their trajectory (every epoch) at three learning
# rates up to the single-point default (5e-4 wrecked utility at every level, BENCHMARKS.md), NPO also
# over β, each point also half-way back to vanilla. CHIP: the share of neurons it edits, and its edit
# scaled from half to three times (a projection scaled past 1 removes more of the directions).
LOSS_GRID = StrengthGrid(fields={"lr": (5e-5, 2e-4, 5e-4)}, every_epoch=True, scales=(0.5, 1.0))
# NPO's β at the middle learning rate only: five trainings, not nine (BENCHMARKS.md, the protocol's cost)
NPO_GRID = LOSS_GRID.model_copy(update={"extra": ({"lr": 2e-4, "beta": 0.05}, {"lr": 2e-4, "beta": 0.5})})
CHIP_GRID = StrengthGrid(fields={"top_fraction": (0.05, 0.1, 0.2)}, scales=(0.5, 1.0, 1.5, 2.0, 3.0))

METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Vanilla("vanilla"),
        Oracle("oracle"),
        GradDiff("ga", LOSS_GRID, retain_loss="none"),  # gradient ascent: GradDiff without its retain term
        GradDiff("graddiff", LOSS_GRID),
        GradDiff("kl", LOSS_GRID, retain_loss="kl"),
        NPO("npo", NPO_GRID),
        ForgetMI("forget_mi", LOSS_GRID),
        CHIP("chip", CHIP_GRID),
    )
}
METHOD_NAMES: tuple[str, ...] = tuple(METHODS)


def get_method(name: str) -> Method:
    check_choice("method", name, METHOD_NAMES)
    return METHODS[name]


def make_config(name: str, overrides: dict[str, object] | None = None) -> MethodConfig:
    """The method's pydantic config with its defaults, updated by `overrides`; a bad one is one line."""
    try:
        return get_method(name).config(**(overrides or {}))
    except ValidationError as error:
        detail = error.errors()[0]
        raise MedForgetError(f"{name} config {'.'.join(map(str, detail['loc']))}: {detail['msg']}") from None


__all__ = ["METHODS", "METHOD_NAMES", "MethodConfig", "UnlearnSplits", "get_method", "make_config"]
