"""The leaderboard Space's logic: the page it shows and what an upload does.

`hub_card/leaderboard/app.py` is only the Gradio shell around these functions, in the way an
`evaluate` metric module is a shell around the scorer. The page is the static page's body
(`render.html_body`) over the same rows (`rows_of`): no headers, ranking or numbers of its own.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from medforget_data.constants import REFERENCE_METHODS
from medforget_data.errors import MedForgetError
from medforget_data.leaderboard.plot import plot_forget_vs_retain
from medforget_data.leaderboard.render import STYLE, html_body
from medforget_data.leaderboard.rows import LeaderboardRow, format_value, rows_of
from medforget_data.leaderboard.table import load_results
from medforget_data.scoring.judge_offline import OfflineJudge
from medforget_data.scoring.results import Results, read_results, results_path, write_results
from medforget_data.scoring.score_file import score_submission_file
from medforget_data.scoring.submission import read_submission

UPLOADS_DIR = "uploads"
EMPTY_PAGE = "<p>No results yet.</p>"


def results_in(results_dir: Path) -> list[Results]:
    return load_results(Path(results_dir)) if any(Path(results_dir).glob("**/*.json")) else []


def rows(results_dir: Path) -> list[LeaderboardRow]:
    return rows_of(results_in(results_dir))


def page(results_dir: Path) -> str:
    """The HTML the Space shows: index.html's body without the plots (the Space shows its own) or
    the CSV link (the Space has no CSV file)."""
    found = rows(results_dir)
    return f"<style>{STYLE}</style>{html_body(found, [], csv_name=None)}" if found else EMPTY_PAGE


def plot(results_dir: Path, out: Path) -> Path | None:
    found = rows(results_dir)
    return plot_forget_vs_retain(found, out) if found else None


def _check_new_method(method: str, level: str, results_dir: Path) -> None:
    """One row per method name and level: a second upload under a taken name would sit beside the
    first as if it were another method; reference names are the run's own, never an upload's."""
    name = method.strip().casefold()
    if name in REFERENCE_METHODS:
        raise MedForgetError(f"method {method!r} is a reference's name (vanilla, oracle); choose another")
    for existing in results_in(results_dir):
        if existing.level == level and existing.metadata.method.strip().casefold() == name:
            raise MedForgetError(
                f"level {level} already has a result for method {existing.metadata.method!r}; "
                "choose another method name"
            )


def accept_submission(upload: Path | None, level: str, dataset_dir: Path, results_dir: Path) -> str:
    """Validate and score an uploaded submission with the offline judge; its results join the table.

    Raises MedForgetError (one line) for anything wrong; nothing is written then.
    """
    if upload is None:
        raise MedForgetError("no file uploaded")
    # the name is checked before scoring, which is the slow part
    _check_new_method(read_submission(Path(upload)).metadata.method, level, results_dir)
    reference = results_path(results_dir, level, "vanilla")
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
    gap = results.summary_gaps.retain_minus_forget
    return (
        f"scored {results.metadata.method!r} on level {level}: "
        f"retain − forget gap {format_value(gap.mean if gap else None)}"
    )
