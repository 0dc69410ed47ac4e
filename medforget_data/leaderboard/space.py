"""The leaderboard Space's logic: the table it shows and what an upload does.

`hub_card/leaderboard/app.py` is only the Gradio shell around these functions, in the way an
`evaluate` metric module is a shell around the scorer.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from medforget_data.errors import MedForgetError
from medforget_data.leaderboard.table import (
    LeaderboardRow,
    format_value,
    load_results,
    plot_forget_vs_retain,
    row_of,
)
from medforget_data.scoring.judge_offline import OfflineJudge
from medforget_data.scoring.results import read_results, write_results
from medforget_data.scoring.score_file import score_submission_file

TABLE_HEADERS: tuple[str, ...] = (
    "level",
    "method",
    "retain − forget",
    "sibling − forget",
    "utility",
    "MIA AUC",
    "forget quality",
)
UPLOADS_DIR = "uploads"


def rows(results_dir: Path) -> list[LeaderboardRow]:
    if not any(Path(results_dir).glob("**/*.json")):
        return []
    return [row_of(r) for r in load_results(Path(results_dir))]


def table(results_dir: Path) -> list[list[str]]:
    """One line per (level, method), best retain − forget gap first within a level."""
    from medforget_data.constants import LEVELS

    ordered = sorted(rows(results_dir), key=lambda r: (LEVELS.index(r.level), -r.gap, r.method))
    return [
        [
            r.level,
            r.method,
            *map(format_value, (r.gap, r.sibling_gap, r.utility, r.mia_auc, r.forget_quality)),
        ]
        for r in ordered
    ]


def plot(results_dir: Path, out: Path) -> Path | None:
    found = rows(results_dir)
    return plot_forget_vs_retain(found, out) if found else None


def accept_submission(upload: Path | None, level: str, dataset_dir: Path, results_dir: Path) -> str:
    """Validate and score an uploaded submission with the offline judge; its results join the table.

    Raises MedForgetError (one line) for anything wrong; nothing is written then.
    """
    if upload is None:
        raise MedForgetError("no file uploaded")
    reference = Path(results_dir) / level / "vanilla.json"
    results = score_submission_file(
        Path(upload),
        level,
        dataset_dir,
        OfflineJudge(),
        read_results(reference) if reference.is_file() else None,
    )
    digest = hashlib.sha256(Path(upload).read_bytes()).hexdigest()[:12]
    safe_method = re.sub(r"[^A-Za-z0-9_.-]+", "-", results.metadata.method)[:60] or "method"
    out = Path(results_dir) / UPLOADS_DIR / level / f"{safe_method}-{digest}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_results(out, results)
    gap = row_of(results).gap
    return f"scored {results.metadata.method!r} on level {level}: retain − forget gap {gap:.3f}"
