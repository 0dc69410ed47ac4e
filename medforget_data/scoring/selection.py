"""Choosing a method's operating point from its sweep, on what the unlearner may see (design §10).

Pure over recorded numbers, so a results file can be re-read at another floor without rerunning:

* `floor` (the ranked rule): the point with the lowest forget score among those whose utility — the
  unlearner's retain ∪ sibling score relative to vanilla's — is at least `floor`. No such point:
  `below_floor`. A chosen point that forgets no more than vanilla within its interval: `inert`.
* `oracle-match` (MUSE-like, labelled: it reads the oracle): among points whose forget score reaches
  the oracle's, the one that keeps the most utility (the least change; ties to the earlier point). It
  guards against the first rule's over-forgetting (forget far below holdout).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

SelectionRuleName = Literal["floor", "oracle-match"]
SELECTION_RULES: tuple[SelectionRuleName, ...] = get_args(SelectionRuleName)
SelectionStatus = Literal["selected", "below_floor", "inert", "never_matches_oracle"]
# shown, never ranked: ranking them would rank by how much they damaged the model
UNRANKED_STATUSES: tuple[SelectionStatus, ...] = ("below_floor", "inert")
DEFAULT_UTILITY_FLOOR = 0.9


class SweepPoint(BaseModel):
    """One point of a method's sweep: its setting and its selection scores (teacher-forced exact match)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    setting: dict[str, float | int | str]  # what varies: e.g. {"lr": 5e-4, "epoch": 3, "scale": 1.0}
    forget: float = Field(ge=0, le=1)  # on `forget`
    forget_ci: tuple[float, float]
    utility: float = Field(ge=0)  # on unlearn_retain ∪ unlearn_sibling, relative to vanilla's
    sibling: float | None = Field(default=None, ge=0, le=1)  # on the sample's unlearn_sibling items


class Selection(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    rule: SelectionRuleName
    floor: float | None  # the floor rule's utility floor
    status: SelectionStatus
    chosen: int | None  # index into the sweep's points


def floor_order(point: SweepPoint, index: int) -> tuple[float, int]:
    """The floor rule's preference among eligible points: lower forget score, then the earlier point."""
    return (point.forget, index)


def mildest_order(point: SweepPoint, index: int) -> tuple[float, int]:
    """Most utility first, then the earlier point: oracle-match's preference, and the point reported
    (not ranked) for a method below the floor."""
    return (-point.utility, index)


def select_at_floor(points: Sequence[SweepPoint], vanilla_forget: float, floor: float) -> Selection:
    """The lowest forget score among points at or above the utility floor (ties: the earlier point)."""
    eligible = [i for i, point in enumerate(points) if point.utility >= floor]
    if not eligible:
        return Selection(rule="floor", floor=floor, status="below_floor", chosen=None)
    chosen = min(eligible, key=lambda i: floor_order(points[i], i))
    # vanilla's forget score is not above the chosen point's interval: no forgetting the CI can tell
    inert = vanilla_forget <= points[chosen].forget_ci[1]
    return Selection(rule="floor", floor=floor, status="inert" if inert else "selected", chosen=chosen)


def select_oracle_match(points: Sequence[SweepPoint], oracle_forget: float) -> Selection:
    """Among points whose forget score reaches the oracle's, the one keeping the most utility."""
    reaching = [i for i, point in enumerate(points) if point.forget <= oracle_forget]
    if not reaching:
        return Selection(rule="oracle-match", floor=None, status="never_matches_oracle", chosen=None)
    chosen = min(reaching, key=lambda i: mildest_order(points[i], i))
    return Selection(rule="oracle-match", floor=None, status="selected", chosen=chosen)


class SweepRecord(BaseModel):
    """What a results file records of a sweep: the grid, every point, the rules and their choices."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    grid: dict  # the method's StrengthGrid (methods/base.py)
    base_config: dict  # the method's config before the grid's fields are set
    utility_items: int
    vanilla_forget: float
    vanilla_utility: float  # vanilla's raw exact-match rate on the utility sample (utility 1.0)
    vanilla_sibling: float | None = None  # vanilla's on the sample's sibling items
    oracle_forget: float | None
    points: list[SweepPoint]
    selections: list[Selection]  # the floor rule (ranked) first, then oracle-match when an oracle was given

    @property
    def ranked(self) -> Selection:
        return self.selections[0]
