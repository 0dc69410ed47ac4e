"""Leaderboard aggregation on hand-made results: rows, ranking, ties, marks, banner, plot, files."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from scipy.stats import bootstrap as scipy_bootstrap

from medforget_data.cli import main
from medforget_data.leaderboard.plot import forget_vs_retain_figure
from medforget_data.leaderboard.render import to_csv, to_html, to_markdown
from medforget_data.leaderboard.rows import (
    SCORE_COLUMNS,
    SUMMARY_COLUMNS,
    best_labels,
    format_value,
    memorisation_shortfalls,
    places,
    ranking,
    row_of,
)
from medforget_data.scoring.aggregate import mean_ci, mean_gap_ci
from medforget_data.scoring.results import ItemScore, Results, read_results, write_results
from medforget_data.scoring.score import aggregate, split_gaps
from medforget_data.scoring.submission import SubmissionMetadata
from tests.import_scan import PACKAGE_ROOTS, import_graph


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


# ----- the page: ties, best per column, the memorisation banner, labels, gap intervals


def test_ties_share_a_place_and_references_are_never_ranked() -> None:
    rows = [
        row_of(results("vanilla", "patient", 0.95, 0.95)),
        row_of(results("oracle", "patient", 0.1, 0.95)),
        row_of(results("chip", "patient", 0.0, 0.0)),
        row_of(results("ga", "patient", 0.0, 0.0)),
        row_of(results("npo", "patient", 0.5, 0.9)),
        row_of(results("kl", "patient", 0.5004, 0.9)),  # 0.3996 prints as 0.400: tied with npo
    ]
    ranked = ranking(rows)
    shown = dict(zip((m for m, _, _ in ranked), places(ranked, {"vanilla", "oracle"}), strict=True))
    assert shown == {"oracle": "ref", "kl": "1=", "npo": "1=", "chip": "3=", "ga": "3=", "vanilla": "ref"}


def test_best_value_per_column_follows_its_direction_and_keeps_ties() -> None:
    rows = [
        row_of(results("vanilla", "patient", 0.0, 1.0)),  # a reference: never marked, even when best
        row_of(results("chip", "patient", 0.2, 0.9)),
        row_of(results("ga", "patient", 0.1, 0.3)),
        row_of(results("npo", "patient", 0.3, 0.9)),
    ]
    rows = [
        r.model_copy(update={"mia_auc": auc, "seconds": seconds})
        for r, auc, seconds in zip(rows, (0.5, 0.62, 0.41, 0.58), (0.0, 3.04, 9.0, 3.01), strict=True)
    ]
    column = {c.key: c for c in (*SUMMARY_COLUMNS, *SCORE_COLUMNS)}
    assert best_labels(rows, column["forget/cloze"]) == {"ga"}  # lower is better
    assert best_labels(rows, column["retain/cloze"]) == {"chip", "npo"}  # higher, tied
    assert best_labels(rows, column["gap"]) == {"chip"}  # 0.7 against 0.2 and 0.6
    assert best_labels(rows, column["mia_auc"]) == {"npo"}  # |0.58 − 0.5| is the smallest
    assert best_labels(rows, column["seconds"]) == {"chip", "npo"}  # 3.0 and 3.0 as printed
    # KS p-values print in scientific notation, so 3e-05 beats 1e-20 instead of tying at 0.000
    rows = [
        r.model_copy(update={"forget_quality": p})
        for r, p in zip(rows, (0.9, 1e-20, 3e-5, 1e-20), strict=True)
    ]
    assert column["forget_quality"].format(3e-5) == "3.0e-05"
    assert best_labels(rows, column["forget_quality"]) == {"ga"}


def test_an_unmemorised_vanilla_gets_a_banner_and_nothing_is_ranked() -> None:
    learned = [row_of(results(m, "patient", f, 0.9)) for m, f in (("vanilla", 0.95), ("chip", 0.1))]
    page = to_html(learned, [])
    assert "id='ranking'" in page and "id='banner'" not in page and "class='best'" in page
    unlearned = [row_of(results(m, "patient", f, 0.3)) for m, f in (("vanilla", 0.3), ("chip", 0.1))]
    assert memorisation_shortfalls(unlearned).clear == [
        "patient: forget generation ROUGE-L 0.300 [CI to 0.300] < 0.7, classification EM 0.300 [CI to 0.300]"
        " < 0.9, cloze EM 0.300 [CI to 0.300] < 0.9"
    ]
    page, markdown = to_html(unlearned, []), to_markdown(unlearned)
    assert "id='banner'" in page and "cloze EM 0.300 [CI to 0.300] &lt; 0.9" in page
    assert format_value(-0.0001) == "0.000" and format_value(-0.0006) == "-0.001"
    assert "id='ranking'" not in page and "class='best'" not in page
    assert "Not ranked: vanilla has not memorised train" in markdown and "| rank |" not in markdown
    assert "**" not in markdown.split("## Level: patient")[1]  # no best marks either
    assert "id='summary-patient'" in page and "id='scores-patient'" in page
    assert "<a id='download' href='leaderboard.csv' download>" in page


def test_a_mean_just_below_a_target_is_noted_and_the_board_still_ranked() -> None:
    """Forget cloze EM 0.875 over 40 items (35 right): its CI reaches 0.9, so vanilla did memorise;
    the note says where it falls short and the ranking stands."""
    vanilla = row_of(results("vanilla", "patient", 0.95, 0.95))
    cloze = mean_ci([1.0] * 35 + [0.0] * 5)
    assert cloze[0] == 0.875 and cloze[2] >= 0.9  # the bootstrap interval reaches the target
    vanilla = vanilla.model_copy(update={"memorisation": {**vanilla.memorisation, "cloze": cloze}})
    rows = [vanilla, row_of(results("chip", "patient", 0.1, 0.9))]
    shortfalls = memorisation_shortfalls(rows)
    assert shortfalls.clear == [] and shortfalls.marginal == [
        f"patient: forget cloze EM 0.875 [CI to {cloze[2]:.3f}] < 0.9"
    ]
    page = to_html(rows, [])
    assert "id='memorisation-note'" in page and "id='banner'" not in page and "id='ranking'" in page
    assert "class='best'" in page and "Vanilla's forget scores sit just below" in to_markdown(rows)


def test_gap_interval_agrees_with_scipy_bootstrap() -> None:
    """The gap CI resamples retain and forget independently; scipy's two-sample bootstrap does the
    same with its own generator, so the bounds agree to Monte-Carlo error."""
    rng = np.random.default_rng(1)
    retain, forget = rng.binomial(1, 0.8, 60).astype(float), rng.binomial(1, 0.3, 45).astype(float)
    gap, low, high = mean_gap_ci([(retain, forget)], samples=20000)
    reference = scipy_bootstrap(
        (retain, forget),
        lambda a, b, axis: a.mean(axis=axis) - b.mean(axis=axis),
        n_resamples=20000,
        method="percentile",
        vectorized=True,
        random_state=0,
    ).confidence_interval
    assert gap == pytest.approx(retain.mean() - forget.mean())
    assert (low, high) == pytest.approx((reference.low, reference.high), abs=0.01)
    # two tasks: the gap is the mean of the task gaps; constant scores leave no interval
    gap, low, high = mean_gap_ci([(np.ones(5), np.zeros(4)), (np.full(3, 0.5), np.zeros(2))])
    assert (gap, low, high) == (0.75, 0.75, 0.75)


def test_scatter_labels_never_overlap_even_on_tied_points() -> None:
    import matplotlib.pyplot as plt
    from matplotlib.text import Text

    tied = ("chip", "forget_mi", "ga", "graddiff", "kl", "npo")  # all at (0, 0): nothing learned
    rows = [row_of(results(m, "patient", 0.0, 0.0)) for m in tied]
    rows += [
        row_of(results("vanilla", "patient", 0.02, 0.03)),
        row_of(results("oracle", "patient", 0.5, 0.5)),
    ]
    rows += [row_of(results(m, "study", 0.41, 0.9)) for m in ("chip", "ga", "npo")]
    figure = forget_vs_retain_figure(rows)
    figure.canvas.draw()  # positions as saved
    renderer = figure.canvas.get_renderer()
    for axis in figure.axes:
        labels = [t for t in axis.texts if t.get_text()]
        boxes = [Text.get_window_extent(t, renderer) for t in labels]  # the words, not leader lines
        frame = axis.get_window_extent(renderer)
        assert len(labels) == {"patient": 8, "study": 3}[axis.get_title()]
        for i, box in enumerate(boxes):
            assert frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1
            assert not any(box.overlaps(other) for other in boxes[i + 1 :]), labels[i].get_text()
    plt.close(figure)


# ----- every cell escaped: a name cannot add a column, split a row, pass HTML or run a formula

HOSTILE_NAMES = (
    "ga|chip",
    "<script>alert(1)</script>",
    "two\nlines",
    '=HYPERLINK("http://x")',
    "[click](javascript:alert(1))",
    "_em_ *strong* `code` \\|",
)


def hostile_rows() -> list:
    rows = [row_of(results("vanilla", "patient", 0.95, 0.95))]
    for index, name in enumerate(HOSTILE_NAMES):
        row = row_of(results("chip", "patient", 0.1 + index / 50, 0.9))
        rows.append(row.model_copy(update={"method": name}))
    return rows


class CellTexts(HTMLParser):
    """The text of every cell of every table row of rendered HTML, and the tags met inside cells."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.tags_in_cells: set[str] = set()
        self._cell: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif self._cell is not None:
            self.tags_in_cells.add(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_markdown_cells_are_escaped() -> None:
    markdown_it = pytest.importorskip("markdown_it")
    rows = hostile_rows()
    markdown = to_markdown(rows)
    assert "<script" not in markdown
    # a real CommonMark + GFM-table renderer: every row has its header's cells, each name comes back
    # as its literal text (a newline as a space), and no markup reaches a cell
    rendered = CellTexts(markdown_it.MarkdownIt("commonmark").enable("table").render(markdown))
    widths = {len(row) for row in rendered.rows}
    assert widths == {4, 1 + len(SUMMARY_COLUMNS), 1 + len(SCORE_COLUMNS)}  # ranking, summary, scores
    expected = {name.replace("\n", " ") for name in HOSTILE_NAMES} | {"vanilla"}
    ranking_rows = [row for row in rendered.rows if len(row) == 4][1:]
    assert {row[1] for row in ranking_rows} == expected
    level_rows = [row for row in rendered.rows if len(row) == 1 + len(SUMMARY_COLUMNS)][1:]
    assert {row[0] for row in level_rows} == expected
    assert rendered.tags_in_cells <= {"em", "strong"}  # our own marks: the reference, the best value
    assert len([r for r in rendered.rows if r[0] == "vanilla"]) == 2  # in the summary and the scores


def test_csv_cells_are_escaped() -> None:
    text = to_csv(hostile_rows())
    lines = text.splitlines()
    assert len(lines) == 1 + 1 + len(HOSTILE_NAMES)  # a newline in a name does not split its row
    records = list(csv.reader(io.StringIO(text)))
    assert {len(r) for r in records} == {len(records[0])}
    methods = {r[1] for r in records[1:]}
    assert methods == {
        "vanilla",
        "ga|chip",
        "<script>alert(1)</script>",
        "two lines",
        '\'=HYPERLINK("http://x")',  # a spreadsheet shows it as text, never runs it
        "[click](javascript:alert(1))",
        "_em_ *strong* `code` \\|",
    }
    assert not any(cell.startswith(("=", "+", "@")) for record in records for cell in record)


# ----- the numbers are stored when scored; old results files get them when read


def test_results_store_the_gaps_and_an_old_file_gets_the_same_when_read(tmp_path: Path) -> None:
    scored = results("chip", "patient", 0.2, 0.9)
    gaps = scored.summary_gaps
    # retain − forget per task is 0.9 − 0.2 (constant scores: the CI is the point)
    assert gaps.retain_minus_forget is not None
    assert (gaps.retain_minus_forget.mean, gaps.retain_minus_forget.ci_low) == pytest.approx((0.7, 0.7))
    assert gaps.rephrased_retain_minus_forget is None  # no rephrased items: nothing to show
    write_results(tmp_path / "new.json", scored)
    on_disk = json.loads((tmp_path / "new.json").read_text(encoding="utf-8"))
    assert on_disk["mean_gaps"]["retain_minus_forget"]["mean"] == pytest.approx(0.7)
    assert on_disk["memorisation"]["cloze"] == {"ci_high": 0.2, "ci_low": 0.2, "mean": 0.2}
    old = {key: value for key, value in on_disk.items() if key not in ("mean_gaps", "memorisation")}
    (tmp_path / "old.json").write_text(json.dumps(old), encoding="utf-8")
    again = read_results(tmp_path / "old.json")
    assert again.mean_gaps == scored.mean_gaps and again.memorisation == scored.memorisation


def test_the_leaderboard_modules_import_in_one_direction() -> None:
    """rows ← render, plot ← table ← space (curves, from results alone ← table), counting imports inside
    functions: no cycle to hide."""
    graph = import_graph(PACKAGE_ROOTS)
    package = "medforget_data.leaderboard"
    imports = {
        module.rsplit(".", 1)[-1] if module != package else "__init__": {
            target.rsplit(".", 1)[-1] for target in targets if target.startswith(package + ".")
        }
        for module, targets in graph.items()
        if module == package or module.startswith(package + ".")
    }
    assert imports == {
        "__init__": set(),
        "rows": set(),
        "render": {"rows"},
        "plot": {"rows"},
        "curves": set(),
        "table": {"rows", "render", "plot", "curves"},
        "space": {"rows", "render", "plot", "table"},
    }
