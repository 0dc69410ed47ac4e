"""The leaderboard: results JSONs → one row per (level, method) → Markdown, CSV, plots and a static page.

Ranking: the mean over levels of the retain − forget gap (mean over tasks), larger is better;
utility (holdout relative to vanilla) is shown beside it, since forgetting everything also
opens a large gap only if retain survives.
"""

from __future__ import annotations

import csv
import html
import io
import math
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel

from medforget_data.constants import LEVELS, TASKS
from medforget_data.errors import MedForgetError
from medforget_data.io import atomic_folder
from medforget_data.scoring.results import Results, read_results

SPLIT_COLUMNS: tuple[str, ...] = ("forget", "retain", "sibling", "holdout")


class LeaderboardRow(BaseModel):
    level: str
    method: str
    scores: dict[str, float]  # "<split>/<task>" → mean
    gap: float  # mean over tasks of retain − forget
    sibling_gap: float
    utility: float | None = None  # holdout relative to the reference (vanilla)
    mia_auc: float | None = None
    forget_quality: float | None = None
    recovery: float | None = None  # reconstruction recovery at the deepest context
    seconds: float | None = None  # the method's own wall time (unlearning; training for the oracle)
    judge: str = "offline"  # scores from different judges are never compared in one row
    entry: str = ""  # the ranked name: the method, disambiguated when two submissions share it

    @property
    def label(self) -> str:
        name = self.entry or self.method
        return name if self.judge == "offline" else f"{name} [judge {self.judge}]"


def _mean(values: list[float]) -> float:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return sum(finite) / len(finite) if finite else math.nan


def row_of(results: Results) -> LeaderboardRow:
    scores = {
        f"{split}/{task}": results.scores[split][task].mean
        for split in SPLIT_COLUMNS
        if split in results.scores
        for task in TASKS
        if task in results.scores[split]
    }
    attacks = results.attacks
    recovery = attacks.reconstruction.recovery if attacks else {}
    return LeaderboardRow(
        level=results.level,
        method=results.metadata.method,
        scores=scores,
        gap=_mean([g.get("retain_minus_forget", math.nan) for g in results.gaps.values()]),
        sibling_gap=_mean([g.get("sibling_minus_forget", math.nan) for g in results.gaps.values()]),
        utility=results.utility["holdout"].relative if results.utility else None,
        mia_auc=attacks.membership.auc.get("loss") if attacks else None,
        forget_quality=attacks.forget_quality.ks_p_value if attacks and attacks.forget_quality else None,
        recovery=recovery[list(recovery)[-1]] if recovery else None,
        seconds=results.timings.get("unlearn"),
        judge=str(results.judge.get("name", "?")),
    )


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
        (m, _mean([r.gap for r in rs]), _mean([r.utility for r in rs if r.utility is not None]))
        for m, rs in by_method.items()
    ]
    return sorted(ranked, key=lambda entry: (-entry[1] if not math.isnan(entry[1]) else math.inf, entry[0]))


def format_value(value: float | None) -> str:
    """A score cell: three decimals, or a dash when there is none."""
    return "–" if value is None or math.isnan(value) else f"{value:.3f}"


def table_columns() -> list[str]:
    return [f"{split}/{task}" for split in SPLIT_COLUMNS for task in TASKS]


def to_markdown(rows: list[LeaderboardRow]) -> str:
    lines = [
        "# MedForget leaderboard",
        "",
        "## Overall (mean retain − forget gap over levels; utility beside)",
        "",
        "| rank | method | gap | utility |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {i} | {m} | {format_value(g)} | {format_value(u)} |"
        for i, (m, g, u) in enumerate(ranking(rows), start=1)
    ]
    extra = ["gap", "sibling gap", "utility", "MIA AUC", "forget quality", "recovery", "wall s"]
    for level in LEVELS:
        level_rows = sorted((r for r in rows if r.level == level), key=lambda r: r.label)
        if not level_rows:
            continue
        lines += [
            "",
            f"## Level: {level}",
            "",
            "| method | " + " | ".join(table_columns() + extra) + " |",
            "|---" * (1 + len(table_columns()) + len(extra)) + "|",
        ]
        for r in level_rows:
            cells = [format_value(r.scores.get(c)) for c in table_columns()]
            cells += [
                format_value(v)
                for v in (r.gap, r.sibling_gap, r.utility, r.mia_auc, r.forget_quality, r.recovery)
            ]
            cells.append("–" if r.seconds is None else f"{r.seconds:.1f}")
            lines.append(f"| {r.label} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_csv(rows: list[LeaderboardRow]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    header = [
        "level",
        "method",
        *table_columns(),
        "gap",
        "sibling_gap",
        "utility",
        "mia_auc",
        "forget_quality",
        "recovery",
        "seconds",
        "judge",
    ]
    writer.writerow(header)
    for r in sorted(rows, key=lambda r: (LEVELS.index(r.level), r.label)):
        writer.writerow(
            [
                r.level,
                r.entry or r.method,
                *(r.scores.get(c, "") for c in table_columns()),
                r.gap,
                r.sibling_gap,
                r.utility if r.utility is not None else "",
                r.mia_auc if r.mia_auc is not None else "",
                r.forget_quality if r.forget_quality is not None else "",
                r.recovery if r.recovery is not None else "",
                r.seconds if r.seconds is not None else "",
                r.judge,
            ]
        )
    return buffer.getvalue()


def plot_forget_vs_retain(rows: list[LeaderboardRow], out: Path) -> Path:
    """Per level: each method's forget score (x) against its retain score (y), means over tasks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = [level for level in LEVELS if any(r.level == level for r in rows)]
    figure, axes = plt.subplots(1, len(levels), figsize=(4 * len(levels), 3.8), squeeze=False)
    for axis, level in zip(axes[0], levels, strict=True):
        for r in sorted((r for r in rows if r.level == level), key=lambda r: r.method):
            forget = _mean([r.scores.get(f"forget/{t}", math.nan) for t in TASKS])
            retain = _mean([r.scores.get(f"retain/{t}", math.nan) for t in TASKS])
            axis.scatter(forget, retain)
            axis.annotate(r.method, (forget, retain), textcoords="offset points", xytext=(4, 4), fontsize=8)
        axis.plot([0, 1], [0, 1], linestyle=":", color="grey")
        axis.set(
            xlim=(0, 1),
            ylim=(0, 1),
            xlabel="forget score (lower is better)",
            ylabel="retain score",
            title=level,
        )
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def to_html(markdown_rows: list[LeaderboardRow], images: list[str]) -> str:
    rank_rows = "".join(
        f"<tr><td>{i}</td><td>{html.escape(m)}</td><td>{format_value(g)}</td><td>{format_value(u)}</td></tr>"
        for i, (m, g, u) in enumerate(ranking(markdown_rows), start=1)
    )
    detail = html.escape(to_csv(markdown_rows))
    figures = "".join(f'<img src="{html.escape(name)}" alt="{html.escape(name)}">' for name in images)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>MedForget leaderboard</title>"
        "<style>body{font-family:sans-serif;margin:2em}td,th{padding:4px 10px;border-bottom:1px solid #ddd}"
        "img{max-width:100%}</style></head><body><h1>MedForget leaderboard</h1>"
        "<table id='ranking'><tr><th>rank</th><th>method</th><th>retain − forget gap</th>"
        "<th>utility</th></tr>"
        f"{rank_rows}</table>{figures}<h2>All rows (CSV)</h2><pre>{detail}</pre></body></html>\n"
    )


def load_results(results: Path | Sequence[Path]) -> list[Results]:
    """Results from a folder of results JSONs (searched recursively) or from the given files."""
    where = str(results) if isinstance(results, Path) else "the given results"
    paths = sorted(results.glob("**/*.json")) if isinstance(results, Path) else list(results)
    loaded = [read_results(path) for path in paths]
    if not loaded:
        raise MedForgetError(f"no results JSON under {where}")
    hashes = {r.dataset_hash for r in loaded}
    if len(hashes) > 1:
        raise MedForgetError(f"results under {where} come from {len(hashes)} different datasets")
    return loaded


def write_leaderboard(results: Path | Sequence[Path], out: Path, overwrite: bool = True) -> Path:
    """leaderboard.md / .csv, forget_vs_retain.png, a leakage curve per attacked level, index.html."""
    from medforget_data.attacks.plot import plot_leakage

    loaded = load_results(results)
    rows = rows_of(loaded)
    with atomic_folder(out, overwrite=overwrite) as staging:
        (staging / "leaderboard.md").write_text(to_markdown(rows), encoding="utf-8")
        (staging / "leaderboard.csv").write_text(to_csv(rows), encoding="utf-8")
        images = [plot_forget_vs_retain(rows, staging / "forget_vs_retain.png").name]
        for level in LEVELS:
            attacked = {r.metadata.method: r for r in loaded if r.level == level and r.attacks is not None}
            if attacked:
                images.append(plot_leakage(attacked, staging / f"leakage_{level}.png").name)
        (staging / "index.html").write_text(to_html(rows, images), encoding="utf-8")
    return out
