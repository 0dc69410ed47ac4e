"""The leaderboard Space: its logic directly, then the Gradio app in a real headless Chromium."""

from __future__ import annotations

import importlib.util
import os
import socket
from pathlib import Path

import pytest

from medforget_data.constants import LEVEL_SPLITS
from medforget_data.dataset.load import read_split_items
from medforget_data.errors import MedForgetError
from medforget_data.leaderboard.space import UPLOADS_DIR, accept_submission, table
from medforget_data.scoring.judge_offline import OfflineJudge
from medforget_data.scoring.results import write_results
from medforget_data.scoring.score_file import score_submission_file
from medforget_data.scoring.submission import SubmissionMetadata, write_submission

LEVEL = "patient"
APP = Path(__file__).resolve().parents[1] / "hub_card" / "leaderboard" / "app.py"


def submission(folder: Path, dataset: Path, method: str, forget_answer: str | None) -> Path:
    """Every item answered with its reference, except forget items when `forget_answer` is given."""
    predictions = {
        item.id: forget_answer if split == "forget" and forget_answer is not None else item.answer
        for split in LEVEL_SPLITS
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


def test_valid_upload_joins_the_table_with_its_gap(space: tuple[Path, Path], tmp_path: Path) -> None:
    results, dataset = space
    assert [row[:3] for row in table(results)] == [[LEVEL, "vanilla", "0.000"]]
    # forget answered with nothing: forget scores 0, retain stays perfect → gap 1 on every task
    upload = submission(tmp_path, dataset, "forget everything", "")
    message = accept_submission(upload, LEVEL, dataset, results)
    assert message == f"scored 'forget everything' on level {LEVEL}: retain − forget gap 1.000"
    assert [row[:4] for row in table(results)] == [
        [LEVEL, "forget everything", "1.000", "1.000"],
        [LEVEL, "vanilla", "0.000", "0.000"],
    ]
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
