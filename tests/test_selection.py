"""The operating-point rules of issue 31 on hand-made sweeps (every expected index worked out by hand)."""

from __future__ import annotations

import pytest

from medforget_data.scoring.selection import SweepPoint, select_at_floor, select_oracle_match


def point(forget: float, utility: float, half_width: float = 0.05, **setting: float) -> SweepPoint:
    return SweepPoint(
        setting=setting or {"scale": 1.0},
        forget=forget,
        forget_ci=(max(0.0, forget - half_width), min(1.0, forget + half_width)),
        utility=utility,
    )


# vanilla forgets nothing: 0.90 on forget; the oracle reaches 0.30
SWEEP = [
    point(0.85, 1.00, epoch=1),  # 0: barely moved
    point(0.50, 0.95, epoch=2),  # 1: the best at floor 0.9
    point(0.20, 0.85, epoch=3),  # 2: the best at floor 0.8, over-forgets (below the oracle's 0.30)
    point(0.00, 0.40, epoch=4),  # 3: wrecked
    point(0.28, 0.92, epoch=5),  # 4: reaches the oracle keeping the most utility
]


@pytest.mark.parametrize(("floor", "chosen"), [(0.9, 4), (0.8, 2), (0.3, 3), (1.0, 0)])
def test_floor_rule_takes_the_lowest_forget_score_at_or_above_the_floor(floor: float, chosen: int) -> None:
    selection = select_at_floor(SWEEP, vanilla_forget=0.90, floor=floor)
    assert (selection.chosen, selection.rule, selection.floor) == (chosen, "floor", floor)
    # point 0's interval (0.80, 0.90) reaches vanilla's 0.90: at floor 1.0 the method is inert
    assert selection.status == ("inert" if chosen == 0 else "selected")


def test_no_point_at_the_floor_is_below_floor_not_the_least_damaging() -> None:
    selection = select_at_floor(SWEEP, vanilla_forget=0.90, floor=1.01)
    assert (selection.status, selection.chosen) == ("below_floor", None)


def test_ties_go_to_the_earlier_point() -> None:
    tied = [point(0.4, 0.95, epoch=1), point(0.4, 0.99, epoch=2)]
    assert select_at_floor(tied, 0.9, 0.9).chosen == 0
    assert select_oracle_match([point(0.2, 0.9, epoch=1), point(0.1, 0.9, epoch=2)], 0.3).chosen == 0


def test_oracle_match_keeps_the_most_utility_among_points_reaching_the_oracle() -> None:
    selection = select_oracle_match(SWEEP, oracle_forget=0.30)
    assert (selection.rule, selection.status, selection.chosen) == ("oracle-match", "selected", 4)
    assert select_oracle_match(SWEEP[:2], oracle_forget=0.30).status == "never_matches_oracle"


def test_a_point_with_an_impossible_score_is_refused() -> None:
    with pytest.raises(ValueError):
        SweepPoint(setting={}, forget=1.5, forget_ci=(1.0, 1.0), utility=1.0)
    with pytest.raises(ValueError):
        SweepPoint(setting={}, forget=float("nan"), forget_ci=(0.0, 0.0), utility=1.0)


def test_unranked_entries_take_no_place_and_free_theirs() -> None:
    from medforget_data.leaderboard.rows import places

    ranked = [("inert_one", 0.5, 1.0), ("oracle", 0.45, 1.0), ("b", 0.4, 1.0), ("c", 0.3, 1.0)]
    assert places(ranked, {"oracle"}, {"inert_one"}) == ["–", "ref", "1", "2"]
    assert places(ranked, {"oracle"}) == ["1", "ref", "2", "3"]
