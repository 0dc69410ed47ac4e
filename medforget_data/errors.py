"""The one exception type the CLI turns into a one-line error and a non-zero exit."""

from __future__ import annotations

from collections.abc import Iterable


class MedForgetError(Exception):
    """A user-facing error: the message is one line and names the problem."""


def check_choice(kind: str, value: str, valid: Iterable[str]) -> str:
    """Return `value` if it is one of `valid`, else raise naming the valid choices."""
    valid = tuple(valid)
    if value not in valid:
        raise MedForgetError(f"unknown {kind} {value!r}; valid {kind}s: {', '.join(valid)}")
    return value
