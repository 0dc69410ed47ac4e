"""Forget against retain per level, one point per method, with labels that never overlap.

Tied methods sit on one point (an unmemorised run puts every method at 0, 0), so each label is
placed at the first free spot on rings around its point, inside the axes, with a leader line when
it had to move away.
"""

from __future__ import annotations

import math
from pathlib import Path

from medforget_data.constants import LEVELS, TASKS
from medforget_data.leaderboard.rows import LeaderboardRow
from medforget_data.scoring.aggregate import finite_mean

_DIRECTIONS = 16  # angles tried on each ring
_RINGS = 24  # rings tried, each _RING_STEP points further out
_RING_STEP = 9.0
_MARKER_RADIUS = 4.0  # display pixels around a point that a label may not cover


def forget_and_retain(row: LeaderboardRow) -> tuple[float, float]:
    """Means over tasks of the row's forget and retain scores."""
    return tuple(
        finite_mean([row.scores.get(f"{split}/{t}") for t in TASKS]) for split in ("forget", "retain")
    )


def _offsets() -> list[tuple[float, float]]:
    found = [(4.0, 4.0)]  # up and right of the point, as a reader expects first
    for ring in range(1, _RINGS + 1):
        radius = ring * _RING_STEP
        for step in range(_DIRECTIONS):
            angle = math.pi / 4 + 2 * math.pi * step / _DIRECTIONS
            found.append((radius * math.cos(angle), radius * math.sin(angle)))
    return found


def place_labels(axis, points: list[tuple[str, float, float]]) -> list:
    """Annotate each (label, x, y) where its text box overlaps no other label and no point marker."""
    from matplotlib.text import Text
    from matplotlib.transforms import Bbox

    figure = axis.figure
    renderer = figure.canvas.get_renderer()
    inside = axis.get_window_extent(renderer)
    taken = []
    for _, x, y in points:
        px, py = axis.transData.transform((x, y))
        taken.append(
            Bbox.from_extents(
                px - _MARKER_RADIUS, py - _MARKER_RADIUS, px + _MARKER_RADIUS, py + _MARKER_RADIUS
            )
        )
    placed = []
    for label, x, y in points:
        best, best_overlap = None, math.inf
        for dx, dy in _offsets():
            note = axis.annotate(
                label,
                (x, y),
                xytext=(dx, dy),
                textcoords="offset points",
                fontsize=8,
                ha="left" if dx >= 0 else "right",
                va="bottom" if dy >= 0 else "top",
                annotation_clip=False,
                arrowprops={"arrowstyle": "-", "color": "grey", "lw": 0.5}
                if math.hypot(dx, dy) > 8
                else None,
            )
            note.update_positions(renderer)
            box = Text.get_window_extent(note, renderer)  # the words, not the leader line
            overlap = sum(box.overlaps(other) for other in taken)
            fits = box.x0 >= inside.x0 and box.x1 <= inside.x1 and box.y0 >= inside.y0 and box.y1 <= inside.y1
            if fits and overlap == 0:
                if best is not None:
                    best[0].remove()
                best = (note, box)
                break
            if fits and overlap < best_overlap:
                if best is not None:
                    best[0].remove()
                best, best_overlap = (note, box), overlap
            else:
                note.remove()
        if best is None:  # nowhere inside the axes: keep the default spot rather than lose the label
            note = axis.annotate(label, (x, y), xytext=(4, 4), textcoords="offset points", fontsize=8)
            best = (note, Text.get_window_extent(note, renderer))
        taken.append(best[1])
        placed.append(best[0])
    return placed


def forget_vs_retain_figure(rows: list[LeaderboardRow]):
    """The figure: one panel per level, forget (x, lower is better) against retain (y)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    levels = [level for level in LEVELS if any(r.level == level for r in rows)]
    figure, axes = plt.subplots(1, len(levels), figsize=(4.2 * len(levels), 4.2), squeeze=False)
    for axis, level in zip(axes[0], levels, strict=True):
        axis.plot([0, 1], [0, 1], linestyle=":", color="grey")
        axis.set(
            xlim=(-0.02, 1.02),
            ylim=(-0.02, 1.02),
            xlabel="forget score (lower is better)",
            ylabel="retain score",
            title=level,
        )
    figure.tight_layout()  # label placement needs the final axes geometry
    for axis, level in zip(axes[0], levels, strict=True):
        points = []
        for r in sorted((r for r in rows if r.level == level), key=lambda r: r.label):
            forget, retain = forget_and_retain(r)
            if math.isnan(forget) or math.isnan(retain):
                continue
            axis.scatter(forget, retain, s=18, zorder=3)
            points.append((r.label, forget, retain))
        figure.canvas.draw()
        place_labels(axis, points)
    return figure


def plot_forget_vs_retain(rows: list[LeaderboardRow], out: Path) -> Path:
    import matplotlib.pyplot as plt

    figure = forget_vs_retain_figure(rows)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out
