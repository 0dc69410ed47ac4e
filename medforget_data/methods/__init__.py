"""Unlearning methods behind one interface (design §8): `method.unlearn(model, processor, splits, config)`."""

from __future__ import annotations

from pydantic import ValidationError

from medforget_data.errors import MedForgetError, check_choice
from medforget_data.methods.base import Method, MethodConfig, UnlearnSplits
from medforget_data.methods.chip import CHIP
from medforget_data.methods.forget_mi import ForgetMI
from medforget_data.methods.grad_diff import GradDiff
from medforget_data.methods.npo import NPO
from medforget_data.methods.simple import Oracle, Vanilla

METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        Vanilla("vanilla"),
        Oracle("oracle"),
        GradDiff("ga", retain_loss="none"),  # gradient ascent: GradDiff without its retain term
        GradDiff("graddiff"),
        GradDiff("kl", retain_loss="kl"),
        NPO("npo"),
        ForgetMI("forget_mi"),
        CHIP("chip"),
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
