"""The leaderboard Space: its logic directly, then the Gradio app in a real headless Chromium."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import random
import re
import socket
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from medforget_data.constants import REPORTED_SPLITS, TASKS
from medforget_data.dataset.load import read_split_items
from medforget_data.errors import MedForgetError
from medforget_data.leaderboard.space import EMPTY_PAGE, UPLOADS_DIR, accept_submission, page
from medforget_data.leaderboard.table import write_leaderboard
from medforget_data.scoring.judge_offline import OfflineJudge
from medforget_data.scoring.results import ItemScore, Results, write_results
from medforget_data.scoring.score import aggregate, split_gaps
from medforget_data.scoring.score_file import score_submission_file
from medforget_data.scoring.submission import SubmissionMetadata, write_submission

LEVEL = "patient"
APP = Path(__file__).resolve().parents[1] / "hub_card" / "leaderboard" / "app.py"


def submission(folder: Path, dataset: Path, method: str, forget_answer: str | None) -> Path:
    """Every item answered with its reference, except forget items when `forget_answer` is given."""
    predictions = {
        item.id: forget_answer if split == "forget" and forget_answer is not None else item.answer
        for split in REPORTED_SPLITS
        for item in read_split_items(dataset, LEVEL, split)
    }
    path = folder / f"{method}.jsonl"
    metadata = SubmissionMetadata(method=method, model="hand", level=LEVEL, seed=0, contact="tests")
    write_submission(path, metadata, predictions)
    return path


@pytest.fixture()
def space(tmp_path: Path, openi_mini_dir: Path) -> tuple[Path, Path]:
    """A results folder holding a scored vanilla submission (perfect answers everywhere)."""
    results = tmp_path / "results"
    (results / LEVEL).mkdir(parents=True)
    vanilla = submission(tmp_path, openi_mini_dir, "vanilla", None)
    scored = score_submission_file(vanilla, LEVEL, openi_mini_dir, OfflineJudge())
    write_results(results / LEVEL / "vanilla.json", scored)
    return results, openi_mini_dir


class Tables(HTMLParser):
    """Every <table> of a page: its id and rows of cell texts (a value and its CI joined by a space)."""

    def __init__(self, page: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._cell: list[str] | None = None
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.tables[dict(attrs)["id"] or ""] = []
        elif tag == "tr":
            list(self.tables.values())[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            list(self.tables.values())[-1][-1].append(" ".join(p.strip() for p in self._cell if p.strip()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def test_valid_upload_joins_the_table_with_its_gap(space: tuple[Path, Path], tmp_path: Path) -> None:
    results, dataset = space
    tables = Tables(page(results)).tables
    assert [row[:2] for row in tables["ranking"][1:]] == [["ref", "vanilla"]]  # a reference, not ranked
    assert tables["summary-patient"][1][:2] == ["vanilla", "0.000 [0.000, 0.000]"]  # perfect: no gap
    # forget answered with nothing: forget scores 0, retain stays perfect → gap 1 on every task
    upload = submission(tmp_path, dataset, "forget everything", "")
    message = accept_submission(upload, LEVEL, dataset, results)
    assert message == f"scored 'forget everything' on level {LEVEL}: retain − forget gap 1.000"
    tables = Tables(page(results)).tables
    assert [row[:3] for row in tables["ranking"][1:]] == [
        ["1", "forget everything", "1.000"],
        ["ref", "vanilla", "0.000"],
    ]
    # references first, then methods by name
    assert [row[0] for row in tables["summary-patient"][1:]] == ["vanilla", "forget everything"]
    assert tables["summary-patient"][2][1] == "1.000 [1.000, 1.000]"
    assert len(list((results / UPLOADS_DIR / LEVEL).glob("forget-everything-*.json"))) == 1


def test_invalid_uploads_are_refused_and_write_nothing(space: tuple[Path, Path], tmp_path: Path) -> None:
    results, dataset = space
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"metadata": {"method": "x"}}\n', encoding="utf-8")
    with pytest.raises(MedForgetError, match="broken.jsonl"):
        accept_submission(broken, LEVEL, dataset, results)
    with pytest.raises(MedForgetError, match="scored as 'study'"):
        accept_submission(submission(tmp_path, dataset, "m", ""), "study", dataset, results)
    with pytest.raises(MedForgetError, match="no file uploaded"):
        accept_submission(None, LEVEL, dataset, results)
    assert not (results / UPLOADS_DIR).exists()


# ----- one leaderboard: the Space shows the static page's rows and numbers


def scored(method: str, level: str, forget: float, seed: int) -> Results:
    """A results value over every split of a level (rephrased ones too), random per-item scores."""
    draw = random.Random(seed)
    items = [
        ItemScore(
            id=f"{split}-{task}-{k}",
            split=split,
            task=task,
            image_answerable=True,
            score=round(
                min(1.0, (forget if split.startswith("forget") else 0.8) * draw.uniform(0.9, 1.1)), 3
            ),
            rouge_l=0.9 if forget > 0.8 else 0.1,
        )
        for split in REPORTED_SPLITS
        for task in TASKS
        for k in range(draw.randint(4, 9))
    ]
    scores = aggregate(items)
    metadata = SubmissionMetadata(method=method, model="m", level=level, seed=0, contact="c")
    return Results(
        dataset_hash="h",
        level=level,
        metadata=metadata,
        judge={"name": "offline", "version": "1"},
        scores=scores,
        gaps=split_gaps(scores),
        unscored=0,
        items=items,
    )


def markdown_tables(markdown: str) -> list[list[list[str]]]:
    """The Markdown's tables in order, body rows only, cells without emphasis or escapes."""
    tables: list[list[list[str]]] = []
    previous = ""
    for line in markdown.splitlines():
        if line.startswith("|") and not line.startswith("|---"):
            if not previous.startswith("|"):
                tables.append([])  # a header line
                previous = line
                continue
            cells = [
                c.replace("**", "").strip().strip("*").replace("\\", "")
                for c in re.split(r"(?<!\\)\|", line)[1:-1]
            ]
            tables[-1].append(cells)
        previous = line
    return tables


def hand_gap(results: Results, minuend: str, subtrahend: str) -> float:
    """The mean over tasks of mean(minuend) − mean(subtrahend), from the items with numpy."""

    def mean(split: str, task: str) -> float:
        return float(np.mean([i.score for i in results.items if i.split == split and i.task == task]))

    return float(np.mean([mean(minuend, t) - mean(subtrahend, t) for t in TASKS]))


def test_the_space_and_the_static_page_show_the_same_rows_and_numbers(tmp_path: Path) -> None:
    loaded = [
        scored("vanilla", "patient", 0.95, 1),
        scored("oracle", "patient", 0.4, 2),
        scored("chip", "patient", 0.2, 3),
        scored("ga", "patient", 0.5, 4),
        scored("vanilla", "study", 0.95, 5),
        scored("chip", "study", 0.3, 6),
    ]
    for r in loaded:
        write_results(tmp_path / "results" / r.level / f"{r.metadata.method}.json", r)
    board = write_leaderboard(tmp_path / "results", tmp_path / "board")
    static = Tables((board / "index.html").read_text(encoding="utf-8")).tables
    space = Tables(page(tmp_path / "results")).tables
    assert list(space) == ["ranking", "summary-patient", "scores-patient", "summary-study", "scores-study"]
    assert space == static  # every header, row and cell
    # the Markdown has the same body rows and cells (its ranking header is shorter)
    markdown = markdown_tables((board / "leaderboard.md").read_text(encoding="utf-8"))
    assert markdown == [table[1:] for table in static.values()]
    # references are shown and never ranked
    assert {row[1]: row[0] for row in space["ranking"][1:]} == {
        "chip": "1",
        "ga": "2",
        "vanilla": "ref",
        "oracle": "ref",
    }
    # the numbers are the gaps of the results, which agree with the items computed by hand
    rows = {
        (r["level"], r["method"]): r
        for r in csv.DictReader(io.StringIO((board / "leaderboard.csv").read_text()))
    }
    summary = {
        (level, row[0]): row for level in ("patient", "study") for row in space[f"summary-{level}"][1:]
    }
    for r in loaded:
        key = (r.level, r.metadata.method)
        for column, (minuend, subtrahend), index in (
            ("gap", ("retain", "forget"), 1),
            ("rephrased_gap", ("retain_rephrased", "forget_rephrased"), 3),
        ):
            expected = hand_gap(r, minuend, subtrahend)
            assert float(rows[key][column]) == pytest.approx(expected, abs=1e-12)
            low, high = float(rows[key][f"{column}_low"]), float(rows[key][f"{column}_high"])
            assert low <= expected <= high
            assert summary[key][index] == f"{expected:.3f} [{low:.3f}, {high:.3f}]".replace("-0.000", "0.000")
        stored = r.summary_gaps.rephrased_retain_minus_forget
        assert (stored.mean, stored.ci_low, stored.ci_high) == tuple(
            float(rows[key][f"rephrased_gap{end}"]) for end in ("", "_low", "_high")
        )


def metadata_only(folder: Path, method: str, level: str = LEVEL) -> Path:
    path = folder / f"upload-{len(list(folder.glob('upload-*')))}.jsonl"
    record = {"metadata": {"method": method, "model": "m", "level": level, "seed": 0, "contact": "c"}}
    path.write_text(json.dumps(record) + "\n", encoding="utf-8")
    return path


def test_a_taken_or_reference_method_name_is_refused_in_one_line(tmp_path: Path) -> None:
    results = tmp_path / "results"
    write_results(results / LEVEL / "chip.json", scored("chip", LEVEL, 0.2, 1))
    write_results(results / UPLOADS_DIR / LEVEL / "ga-0.json", scored("ga", LEVEL, 0.2, 2))
    nowhere = tmp_path / "no-dataset"  # the name is refused before the dataset is opened
    for method, found in (
        ("chip", "'chip'"),
        ("GA", "'ga'"),
        ("vanilla", "reference"),
        ("Oracle", "reference"),
    ):
        with pytest.raises(MedForgetError, match=found) as refused:
            accept_submission(metadata_only(tmp_path, method), LEVEL, nowhere, results)
        assert "\n" not in str(refused.value)
    assert sorted(p.name for p in (results / UPLOADS_DIR / LEVEL).iterdir()) == ["ga-0.json"]


def test_an_empty_results_folder_shows_an_empty_page(tmp_path: Path) -> None:
    assert page(tmp_path) == EMPTY_PAGE


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_space_in_a_real_browser(space: tuple[Path, Path], tmp_path: Path, browser) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    spec = importlib.util.spec_from_file_location("medforget_space_app", APP)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    results, dataset = space
    app = module.build_app(results, dataset)
    port = _free_port()
    app.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        wait = WebDriverWait(browser, 60)
        browser.get(f"http://127.0.0.1:{port}/")
        board = wait.until(lambda b: b.find_element(By.ID, "leaderboard"))
        wait.until(lambda b: "vanilla" in board.text)

        def upload_and_score(path: Path) -> str:
            browser.find_element(By.CSS_SELECTOR, "#upload input[type=file]").send_keys(str(path))
            # the file component lists the upload once it reached the server (name and suffix on two lines)
            wait.until(lambda b: path.stem in b.find_element(By.ID, "upload").text)
            browser.find_element(By.ID, "score").click()
            status = browser.find_element(By.ID, "status")
            return wait.until(lambda b: status.text.strip() or None)

        valid = submission(tmp_path, dataset, "browser-upload", "")
        assert upload_and_score(valid).startswith("scored 'browser-upload'")
        wait.until(lambda b: "browser-upload" in b.find_element(By.ID, "leaderboard").text)

        browser.get(f"http://127.0.0.1:{port}/")  # a fresh page: the table is read from disk again
        wait.until(lambda b: "browser-upload" in b.find_element(By.ID, "leaderboard").text)
        broken = tmp_path / "broken.jsonl"
        broken.write_text("not json\n", encoding="utf-8")
        assert upload_and_score(broken).startswith("error: ")
        assert "broken.jsonl" in browser.find_element(By.ID, "status").text
    finally:
        app.close()
