"""What every data source provides: reports, and an honest count of what it skipped."""

from __future__ import annotations

from collections import Counter
from typing import Protocol

from pydantic import BaseModel, ConfigDict

from medforget_data.dataset.schema import SourceReport


class SourceOptions(BaseModel):
    """Options a source may read; each source ignores the ones it does not use."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    seed: int = 0
    mimic_root: str | None = None
    max_patients: int | None = None


class SourceLoad(BaseModel):
    """A source's output: usable reports, and skipped ones counted by reason."""

    model_config = ConfigDict(frozen=True)

    reports: tuple[SourceReport, ...]
    skipped: dict[str, int] = {}

    @staticmethod
    def from_counter(reports: list[SourceReport], skipped: Counter[str]) -> SourceLoad:
        return SourceLoad(reports=tuple(reports), skipped=dict(sorted(skipped.items())))


class Source(Protocol):
    name: str
    licence: str  # stated in the dataset card
    description: str  # provenance paragraph for the dataset card
    citation: str  # BibTeX of the source data for the dataset card ("" when there is nothing to cite)
    # Whether the built dataset may be pushed to a public Hub repo without an explicit opt-in.
    public_push_allowed: bool
    # True when the source has its own patient → study grouping (the hierarchy keeps it).
    real_hierarchy: bool

    def load(self, options: SourceOptions) -> SourceLoad: ...
