"""Leaderboard aggregation on hand-made results: rows, ranking, files."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from medforget_data.cli import main
from medforget_data.leaderboard.table import ranking, row_of, to_csv
from medforget_data.scoring.results import ItemScore, Results, write_results
from medforget_data.scoring.score import aggregate, split_gaps
from medforget_data.scoring.submission import SubmissionMetadata


def results(method: str, level: str, forget: float, retain: float, dataset_hash: str = "h") -> Results:
    items = []
    for split, value in (("forget", forget), ("retain", retain), ("sibling", retain), ("holdout", 0.5)):
        for task in ("generation", "classification", "cloze"):
            items.append(
                ItemScore(id=f"{split}-{task}", split=split, task=task, image_answerable=True, score=value)
            )
    scores = aggregate(items)
    return Results(
        dataset_hash=dataset_hash,
        level=level,
        metadata=SubmissionMetadata(method=method, model="m", level=level, seed=0, contact="c"),
        judge={"name": "offline", "version": "v"},
        scores=scores,
        gaps=split_gaps(scores),
        unscored=0,
        items=items,
    )


def test_rows_and_ranking_by_mean_gap() -> None:
    rows = [
        row_of(results("chip", "patient", 0.2, 0.9)),
        row_of(results("chip", "study", 0.4, 0.9)),
        row_of(results("ga", "patient", 0.1, 0.3)),
        row_of(results("vanilla", "patient", 0.9, 0.9)),
    ]
    assert rows[0].gap == pytest.approx(0.7) and rows[0].scores["forget/cloze"] == 0.2
    assert [(m, round(g, 3)) for m, g, _ in ranking(rows)] == [("chip", 0.6), ("ga", 0.2), ("vanilla", 0.0)]
    table = list(csv.DictReader(io.StringIO(to_csv(rows))))
    assert [(r["level"], r["method"]) for r in table] == [
        ("patient", "chip"),
        ("patient", "ga"),
        ("patient", "vanilla"),
        ("study", "chip"),
    ]


def test_cli_writes_markdown_csv_plot_and_page(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for method, forget in (("chip", 0.1), ("ga", 0.3), ("vanilla", 0.95)):
        write_results(tmp_path / "results" / f"{method}.json", results(method, "patient", forget, 0.9))
    assert main(["leaderboard", str(tmp_path / "results"), "--out", str(tmp_path / "board")]) == 0
    board = tmp_path / "board"
    markdown = (board / "leaderboard.md").read_text()
    assert "| 1 | chip | 0.800 |" in markdown and "## Level: patient" in markdown
    assert (board / "forget_vs_retain.png").read_bytes().startswith(b"\x89PNG")
    assert "<table id='ranking'>" in (board / "index.html").read_text()
    write_results(
        tmp_path / "results" / "other.json", results("kl", "patient", 0.2, 0.9, dataset_hash="other")
    )
    assert main(["leaderboard", str(tmp_path / "results"), "--out", str(tmp_path / "b2")]) == 2
    assert "different datasets" in capsys.readouterr().err
