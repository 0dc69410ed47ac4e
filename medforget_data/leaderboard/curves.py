"""Per level, every swept method's points (design §10): forget against utility, and sibling − forget
against utility, on the unlearner's data (teacher-forced exact match); the chosen point ringed, vanilla
as a point, the oracle's forget score and the utility floor as lines."""

from __future__ import annotations

from pathlib import Path

from medforget_data.constants import LEVELS
from medforget_data.scoring.results import Results


def curves_figure(loaded: list[Results], level: str):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    swept = sorted((r for r in loaded if r.level == level and r.sweep), key=lambda r: r.metadata.method)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.2))
    left.set(
        xlabel="utility (unlearner's retain ∪ sibling, ÷ vanilla)", ylabel="forget score (lower is better)"
    )
    right.set(
        xlabel="utility (unlearner's retain ∪ sibling, ÷ vanilla)",
        ylabel="sibling − forget (higher is better)",
    )
    left.set_ylim(-0.02, 1.02)  # exact-match rates: a flat sweep still reads as one
    right.set_ylim(-1.02, 1.02)
    first = swept[0].sweep
    for axis in (left, right):
        axis.axvline(
            first.selections[0].floor or 0, color="grey", linestyle="--", lw=0.8, label="utility floor"
        )
        axis.scatter(
            [1.0],
            [first.vanilla_forget if axis is left else (first.vanilla_sibling or 0) - first.vanilla_forget],
            marker="s",
            color="black",
            zorder=4,
            label="vanilla",
        )
    if first.oracle_forget is not None:
        left.axhline(first.oracle_forget, color="grey", linestyle=":", lw=0.8, label="oracle's forget score")
    for results in swept:
        sweep = results.sweep
        points = sweep.points
        (dots,) = left.plot(
            [p.utility for p in points],
            [p.forget for p in points],
            "o",
            ms=3,
            alpha=0.6,
            label=results.metadata.method,
        )
        color = dots.get_color()
        with_sibling = [p for p in points if p.sibling is not None]
        right.plot(
            [p.utility for p in with_sibling],
            [p.sibling - p.forget for p in with_sibling],
            "o",
            ms=3,
            alpha=0.6,
            color=color,
        )
        chosen = sweep.ranked.chosen
        if chosen is not None:
            point = points[chosen]
            left.scatter(
                [point.utility], [point.forget], s=90, facecolors="none", edgecolors=color, lw=1.5, zorder=5
            )
            if point.sibling is not None:
                right.scatter(
                    [point.utility],
                    [point.sibling - point.forget],
                    s=90,
                    facecolors="none",
                    edgecolors=color,
                    lw=1.5,
                    zorder=5,
                )
    left.legend(fontsize=7, loc="best")
    figure.suptitle(f"{level}: each method's sweep (ringed: the point chosen at the floor)")
    figure.tight_layout()
    return figure


def plot_sweep_curves(loaded: list[Results], out_dir: Path) -> list[Path]:
    """`curves_<level>.png` for each level where some method was swept."""
    import matplotlib.pyplot as plt

    written = []
    for level in LEVELS:
        if any(r.level == level and r.sweep for r in loaded):
            figure = curves_figure(loaded, level)
            path = Path(out_dir) / f"curves_{level}.png"
            figure.savefig(path, dpi=110)
            plt.close(figure)
            written.append(path)
    return written
