"""The leaderboard folder: results JSONs read and checked, then leaderboard.md / .csv, the plots and
index.html written from one set of rows (`rows.rows_of`), rendered by `render`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from medforget_data.attacks.plot import plot_leakage
from medforget_data.constants import LEVELS
from medforget_data.errors import MedForgetError
from medforget_data.io import atomic_folder
from medforget_data.leaderboard.curves import plot_sweep_curves
from medforget_data.leaderboard.plot import plot_forget_vs_retain
from medforget_data.leaderboard.render import to_csv, to_html, to_markdown
from medforget_data.leaderboard.rows import rows_of
from medforget_data.scoring.results import Results, read_results


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
    """leaderboard.md / .csv, forget_vs_retain.png, a leakage curve per attacked level, the sweep curves
    per swept level (curves_<level>.png), index.html."""
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
        images += [path.name for path in plot_sweep_curves(loaded, staging)]
        (staging / "index.html").write_text(to_html(rows, images), encoding="utf-8")
    return out
