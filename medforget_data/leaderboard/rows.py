"""The leaderboard's rows: results → one row per result (several per method allowed), its columns and
which way each is better, the ranking (ties as ties), and whether vanilla memorised `train` at all.

Every number of a row is read from its `Results` (the gaps and their CIs were computed when it was
scored); nothing here resamples or recomputes a score.

Ranking: the mean over levels of the retain − forget gap (mean over tasks), larger is better;
utility (the report-only retain ∪ sibling relative to vanilla) is shown beside it, since forgetting
everything also opens a large gap only if retain survives. Vanilla and the oracle are references, never
ranked.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Literal, NamedTuple

from pydantic import BaseModel

from medforget_data.constants import (
    HOLDOUT_SPLIT,
    LEVELS,
    MEMORISATION_TARGETS,
    PARTITION_SPLITS,
    REFERENCE_METHODS,
    REPHRASED_SPLITS,
    TASKS,
)
from medforget_data.errors import MedForgetError
from medforget_data.scoring.aggregate import finite_mean
from medforget_data.scoring.results import Estimate, Results
from medforget_data.scoring.score import REPORTED_UTILITY
from medforget_data.scoring.selection import UNRANKED_STATUSES, mildest_order

SPLIT_COLUMNS: tuple[str, ...] = (*PARTITION_SPLITS, HOLDOUT_SPLIT, *REPHRASED_SPLITS)

Interval = tuple[float, float]  # 95% bootstrap interval (low, high)
Better = Literal["higher", "lower", "nearest_half"]  # nearest_half: an attack AUC, 0.5 = chance


class Column(NamedTuple):
    key: str  # "<split>/<task>" or a LeaderboardRow field
    title: str
    better: Better
    decimals: int = 3
    scientific: bool = False  # p-values: 1.2e-05 says more than 0.000

    def format(self, value: float | None) -> str:
        if self.scientific and value is not None and not math.isnan(value):
            return f"{value:.1e}"
        return format_value(value, self.decimals)


def _split_better(split: str) -> Better:
    return "lower" if split.startswith("forget") else "higher"


SCORE_COLUMNS: tuple[Column, ...] = tuple(
    Column(f"{split}/{task}", f"{split} {task}", _split_better(split))
    for split in SPLIT_COLUMNS
    for task in TASKS
)
GAP_COLUMN = Column("gap", "retain − forget", "higher")  # what the overall ranking orders by
SUMMARY_COLUMNS: tuple[Column, ...] = (
    GAP_COLUMN,
    Column("sibling_gap", "sibling − forget", "higher"),
    Column("rephrased_gap", "retain − forget, rephrased", "higher"),
    Column("utility", "utility (retain ∪ sibling)", "higher"),
    Column("holdout_utility", "holdout utility", "higher"),
    Column("forget_quality", "forget quality (KS p)", "higher", scientific=True),
    Column("mia_auc", "MIA AUC", "nearest_half"),
    Column("recovery", "reconstruction recovery", "lower"),
    Column("seconds", "wall s", "lower", decimals=1),
)


class LeaderboardRow(BaseModel):
    level: str
    method: str
    scores: dict[str, float]  # "<split>/<task>" → mean
    intervals: dict[str, Interval] = {}  # "<split>/<task>" → 95% CI of the mean
    gap: float  # mean over tasks of retain − forget
    gap_interval: Interval | None = None
    sibling_gap: float
    sibling_gap_interval: Interval | None = None
    rephrased_gap: float = math.nan  # the same gap on the rephrased splits
    rephrased_gap_interval: Interval | None = None
    # task → vanilla-style forget score in the memorisation target's metric: (mean, 95% CI low, high)
    memorisation: dict[str, tuple[float, float, float]] = {}
    # the report-only retain ∪ sibling relative to the reference (vanilla): what the ranking shows beside
    # the gap; holdout beside it (vanilla is near chance there, so it cannot carry a comparison alone)
    utility: float | None = None
    holdout_utility: float | None = None
    mia_auc: float | None = None
    forget_quality: float | None = None
    recovery: float | None = None  # reconstruction recovery at the deepest context
    seconds: float | None = None  # the method's own wall time (unlearning; training for the oracle)
    judge: str = "offline"  # scores from different judges are never compared in one row
    entry: str = ""  # the ranked name: the method, disambiguated when two submissions share it
    # a swept method (design §10): the floor rule's status and the point reported; None: run once
    status: str | None = None
    operating_point: str | None = None

    @property
    def label(self) -> str:
        name = self.entry or self.method
        return name if self.judge == "offline" else f"{name} [judge {self.judge}]"

    @property
    def shown_name(self) -> str:
        """The label, with the status when the method is not ranked and the operating point reported."""
        status = f" [{self.status}]" if self.status in UNRANKED_STATUSES else ""
        point = f" @ {self.operating_point}" if self.operating_point else ""
        return f"{self.label}{status}{point}"

    @property
    def is_reference(self) -> bool:
        return self.method in REFERENCE_METHODS

    def value(self, key: str) -> float | None:
        return self.scores.get(key) if "/" in key else getattr(self, key)

    def interval(self, key: str) -> Interval | None:
        return self.intervals.get(key) if "/" in key else getattr(self, f"{key}_interval", None)


def _point(estimate: Estimate | None) -> tuple[float, Interval | None]:
    if estimate is None:
        return math.nan, None
    if estimate.ci_low is None or estimate.ci_high is None:
        return estimate.mean, None
    return estimate.mean, (estimate.ci_low, estimate.ci_high)


def row_of(results: Results) -> LeaderboardRow:
    present = [
        (split, task)
        for split in SPLIT_COLUMNS
        if split in results.scores
        for task in TASKS
        if task in results.scores[split]
    ]
    gaps = results.summary_gaps
    gap, gap_interval = _point(gaps.retain_minus_forget)
    sibling_gap, sibling_interval = _point(gaps.sibling_minus_forget)
    rephrased_gap, rephrased_interval = _point(gaps.rephrased_retain_minus_forget)
    attacks = results.attacks
    recovery = attacks.reconstruction.recovery if attacks else {}
    return LeaderboardRow(
        level=results.level,
        method=results.metadata.method,
        scores={f"{split}/{task}": results.scores[split][task].mean for split, task in present},
        intervals={
            f"{split}/{task}": (results.scores[split][task].ci_low, results.scores[split][task].ci_high)
            for split, task in present
        },
        gap=gap,
        gap_interval=gap_interval,
        sibling_gap=sibling_gap,
        sibling_gap_interval=sibling_interval,
        rephrased_gap=rephrased_gap,
        rephrased_gap_interval=rephrased_interval,
        memorisation={t: (e.mean, e.ci_low, e.ci_high) for t, e in (results.memorisation or {}).items()},
        utility=_relative(results, REPORTED_UTILITY),
        holdout_utility=_relative(results, HOLDOUT_SPLIT),
        mia_auc=attacks.membership.auc.get("loss") if attacks else None,
        forget_quality=attacks.forget_quality.ks_p_value if attacks and attacks.forget_quality else None,
        recovery=recovery[list(recovery)[-1]] if recovery else None,
        seconds=results.timings.get("unlearn"),
        judge=str(results.judge.get("name", "?")),
        **_operating_point(results),
    )


def _relative(results: Results, name: str) -> float | None:
    """A utility relative to the reference; None when unscored (or a file from before it existed)."""
    score = (results.utility or {}).get(name)
    return score.relative if score is not None else None


def _operating_point(results: Results) -> dict[str, str]:
    """status and operating_point of a swept method's row (the point it reports, chosen or mildest)."""
    if results.sweep is None:
        return {}
    ranked = results.sweep.ranked
    index = ranked.chosen
    if index is None:
        points = results.sweep.points
        index = min(range(len(points)), key=lambda i: mildest_order(points[i], i))
    setting = results.sweep.points[index].setting
    return {
        "status": ranked.status,
        "operating_point": ", ".join(
            f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in setting.items()
        ),
    }


def rows_of(loaded: Sequence[Results]) -> list[LeaderboardRow]:
    """One row per result; submissions that share a method name but differ in model, seed or contact
    are told apart (not averaged into one ranking entry), and one submission given twice is refused."""
    identities: dict[str, set[tuple]] = defaultdict(set)
    for r in loaded:
        identities[r.metadata.method].add((r.metadata.model, r.metadata.seed, r.metadata.contact))
    rows, seen = [], set()
    for r in loaded:
        m = r.metadata
        shared = len(identities[m.method]) > 1
        entry = f"{m.method} ({m.model}, seed {m.seed}, {m.contact})" if shared else m.method
        row = row_of(r).model_copy(update={"entry": entry})
        key = (row.level, entry, row.judge)
        if key in seen:
            raise MedForgetError(f"two results for {entry} at level {row.level} with judge {row.judge}")
        seen.add(key)
        rows.append(row)
    return rows


def ranking(rows: list[LeaderboardRow]) -> list[tuple[str, float, float]]:
    """(method, mean gap over levels, mean utility), best first."""
    by_method: dict[str, list[LeaderboardRow]] = defaultdict(list)
    for row in rows:
        by_method[row.label].append(row)
    ranked = [
        (m, finite_mean([r.gap for r in rs]), finite_mean([r.utility for r in rs if r.utility is not None]))
        for m, rs in by_method.items()
    ]
    return sorted(ranked, key=lambda entry: (-entry[1] if not math.isnan(entry[1]) else math.inf, entry[0]))


def _printed(column: Column, value: float | None) -> float | None:
    """The value as a reader sees it in that column: two entries that print the same are tied."""
    text = column.format(value)
    return None if text == "–" else float(text)


def unranked_labels(rows: list[LeaderboardRow]) -> set[str]:
    """Entries below the utility floor or inert at some level: shown, never ranked by their damage."""
    return {row.label for row in rows if row.status in UNRANKED_STATUSES}


def places(
    ranked: list[tuple[str, float, float]],
    references: set[str],
    unranked: frozenset[str] | set[str] = frozenset(),
) -> list[str]:
    """Competition places for the ranking: ties (equal as printed) share one place, written "2=";
    references (vanilla, oracle) get "ref"; entries without a gap, or unranked ones, "–"."""
    shown = [_printed(GAP_COLUMN, gap) for _, gap, _ in ranked]
    competing = [
        s for (label, _, _), s in zip(ranked, shown, strict=True) if label not in references | set(unranked)
    ]
    out = []
    for (label, _, _), value in zip(ranked, shown, strict=True):
        if label in references:
            out.append("ref")
        elif value is None or label in unranked:
            out.append("–")
        else:
            place = 1 + sum(1 for other in competing if other is not None and other > value)
            out.append(f"{place}=" if competing.count(value) > 1 else str(place))
    return out


def _goodness(column: Column, value: float) -> float:
    """Larger is better, for any column."""
    if column.better == "higher":
        return value
    if column.better == "lower":
        return -value
    return -abs(value - 0.5)


def best_labels(rows: list[LeaderboardRow], column: Column) -> set[str]:
    """The unlearning methods (never a reference) holding the column's best value, every one on a tie."""
    shown = {r.label: _printed(column, r.value(column.key)) for r in rows if not r.is_reference}
    finite = {label: value for label, value in shown.items() if value is not None}
    if not finite:
        return set()
    best = max(_goodness(column, v) for v in finite.values())
    return {label for label, value in finite.items() if _goodness(column, value) == best}


class Shortfalls(NamedTuple):
    """Per level, vanilla's forget scores below the memorisation targets. `clear`: the whole 95% CI lies
    below a target — vanilla did not learn the facts, so no gap means anything and nothing is ranked.
    `marginal`: only the mean does — the gaps stand, with this said beside them."""

    clear: list[str]
    marginal: list[str]


def memorisation_shortfalls(rows: list[LeaderboardRow]) -> Shortfalls:
    clear, marginal = [], []
    for row in sorted(rows, key=lambda r: LEVELS.index(r.level) if r.level in LEVELS else len(LEVELS)):
        if row.method != "vanilla":
            continue
        below: dict[bool, list[str]] = {True: [], False: []}
        for task, target in MEMORISATION_TARGETS.items():
            if task not in row.memorisation:
                continue
            value, _, high = row.memorisation[task]
            if not math.isnan(value) and value < target:
                metric = "ROUGE-L" if task == "generation" else "EM"
                below[high < target].append(f"{task} {metric} {value:.3f} [CI to {high:.3f}] < {target:g}")
        for is_clear, found in below.items():
            if found:
                (clear if is_clear else marginal).append(f"{row.level}: forget " + ", ".join(found))
    return Shortfalls(clear, marginal)


def format_value(value: float | None, decimals: int = 3) -> str:
    """A score cell: three decimals, or a dash when there is none; never "-0.000"."""
    if value is None or math.isnan(value):
        return "–"
    text = f"{value:.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def table_columns() -> list[str]:
    return [column.key for column in SCORE_COLUMNS]
