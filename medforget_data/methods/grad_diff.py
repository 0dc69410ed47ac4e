"""GradDiff: −NLL(forget) + α·NLL(retain ∪ sibling)."""

from __future__ import annotations

from medforget_data.methods.ga import GradAscent


class GradDiff(GradAscent):
    name = "graddiff"
    uses_retain = True
