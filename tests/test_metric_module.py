"""The `evaluate` metric module's surface: fixed schema, per-item mode, the LLM judge, the cards."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import evaluate
import pyarrow.parquet as pq
import pytest
from huggingface_hub import DatasetCard
from huggingface_hub.repocard import metadata_load

import medforget_data
from medforget_data.builders.card import parquet_name
from medforget_data.cli import main
from medforget_data.constants import CONFIGS, TRAIN_CONFIG
from medforget_data.errors import MedForgetError
from medforget_data.eval.register import CACHED_NAME, METRIC_NAME, register_metric
from medforget_data.scoring.results import read_results
from medforget_data.scoring.submission import SubmissionMetadata, write_submission
from tests.scoring_fixtures import (
    HAND_ITEMS,
    HAND_LEVEL,
    OPTIONS,
    ScriptedJudgeServer,
    hand_predictions,
    verdict,
    write_hand_dataset,
)
from tests.test_reliability_surfaces import repository_requirement_url

# Written out by hand: the schema users code against.
KEYS = ["score", "exact_match", "rouge_l", "factuality", "generation", "classification", "cloze", "unscored"]
# ROUGE-L F1("No pleural effusion.", "Small pleural effusion.") = 2/3 (LCS "pleural effusion").
ROUGE = 2 / 3


@pytest.fixture(scope="module")
def metric() -> evaluate.EvaluationModule:
    return evaluate.load(medforget_data.metric_path())


def inputs(*rows: tuple[str, str, str]) -> dict[str, list]:
    """(task, prediction, reference) rows → the metric's input columns."""
    return {
        "predictions": [p for _, p, _ in rows],
        "references": [r for _, _, r in rows],
        "tasks": [t for t, _, _ in rows],
        "options": [OPTIONS if t == "classification" else [] for t, _, _ in rows],
        "facts": ["patient.name" if t == "cloze" else "section.FINDINGS" for t, _, _ in rows],
    }


CLS_RIGHT = ("classification", "B", "B) cardiomegaly")
CLS_WRONG = ("classification", "A) nodule", "B) cardiomegaly")
GEN = ("generation", "No pleural effusion.", "Small pleural effusion.")
CLOZE = ("cloze", "monica padilla", "Monica Padilla")


def test_every_key_is_always_there(metric: evaluate.EvaluationModule) -> None:
    only_cloze = metric.compute(**inputs(CLOZE))
    assert list(only_cloze) == KEYS
    assert only_cloze == {
        **dict.fromkeys(KEYS),
        "score": 1.0,
        "exact_match": 1.0,
        "cloze": 1.0,
        "unscored": 0,
    }
    only_generation = metric.compute(**inputs(GEN))
    assert list(only_generation) == KEYS
    assert only_generation["exact_match"] is None and only_generation["cloze"] is None
    assert only_generation["generation"] == pytest.approx(0.25 * ROUGE)  # factuality 0: negated


def test_per_item_mode(metric: evaluate.EvaluationModule) -> None:
    result = metric.compute(**inputs(CLS_RIGHT, GEN, CLOZE, CLS_WRONG), use_aggregator=False)
    assert list(result) == KEYS
    assert result["score"] == pytest.approx([1.0, 0.25 * ROUGE, 1.0, 0.0])
    assert result["exact_match"] == [1.0, None, 1.0, 0.0]
    assert result["rouge_l"][0] is None and result["rouge_l"][1] == pytest.approx(ROUGE)
    assert result["factuality"] == [None, 0.0, None, None]
    assert result["classification"] == [1.0, None, None, 0.0]
    assert result["generation"][:1] + result["generation"][2:] == [None, None, None]
    assert result["cloze"] == [None, None, 1.0, None]
    assert result["unscored"] == [False] * 4
    means = metric.compute(**inputs(CLS_RIGHT, GEN, CLOZE, CLS_WRONG))
    assert means["score"] == pytest.approx((2 + 0.25 * ROUGE) / 4) and means["classification"] == 0.5


def test_bad_task_is_one_clear_error(metric: evaluate.EvaluationModule) -> None:
    with pytest.raises(MedForgetError, match="unknown task 'vqa'; valid tasks: generation, classification"):
        metric.compute(**inputs(("vqa", "x", "y")))
    with pytest.raises(MedForgetError, match="questions has 2 entries for 1 predictions"):
        metric.compute(**inputs(CLOZE), questions=["q1", "q2"])


@pytest.fixture
def judge_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[ScriptedJudgeServer]:
    server = ScriptedJudgeServer()
    monkeypatch.setenv("MEDFORGET_JUDGE_BASE_URL", server.url)
    monkeypatch.setenv("MEDFORGET_JUDGE_MODEL", "judge-model")
    monkeypatch.setenv("MEDFORGET_JUDGE_API_KEY", "secret")
    monkeypatch.setenv("MEDFORGET_CACHE", str(tmp_path))  # a fresh verdict cache
    yield server
    server.close()


def test_llm_judge_through_evaluate(
    metric: evaluate.EvaluationModule, judge_server: ScriptedJudgeServer
) -> None:
    judge_server.script = [verdict(0.5)]
    result = metric.compute(
        **inputs(GEN, CLOZE), questions=["What does the report say?", "Patient: [blank]"], judge="llm"
    )
    assert result["generation"] == pytest.approx(0.25 * ROUGE + 0.75 * 0.5)
    assert result["factuality"] == 0.5 and result["cloze"] == 1.0 and result["unscored"] == 0
    (request,) = judge_server.requests  # the generation item only; cloze needs no judge
    prompt = request["messages"][0]["content"]
    assert request["model"] == "judge-model"
    assert "Question: What does the report say?" in prompt and "Model answer: No pleural effusion." in prompt
    # A refusing endpoint (bad key) is one clear error through evaluate too, not a table of zeros.
    judge_server.script = [(401, '{"error": "bad key"}')]
    with pytest.raises(MedForgetError, match="HTTP 401"):
        metric.compute(**{**inputs(GEN), "predictions": ["Effusion."]}, judge="llm")


def test_llm_judge_numbers_equal_medforget_score(
    metric: evaluate.EvaluationModule,
    judge_server: ScriptedJudgeServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    judge_server.script = [verdict(0.25)]
    dataset = write_hand_dataset(tmp_path / "hand")
    submission = tmp_path / "s.jsonl"
    metadata = {"method": "m", "model": "none", "level": HAND_LEVEL, "seed": 0, "contact": "a@b.c"}
    write_submission(submission, SubmissionMetadata(**metadata), hand_predictions())
    out = tmp_path / "r.json"
    args = ["score", str(submission), "--level", HAND_LEVEL, "--dataset", str(dataset), "--judge", "llm"]
    assert main([*args, "--out", str(out)]) == 0
    capsys.readouterr()
    results = read_results(out)
    for split, pairs in HAND_ITEMS.items():
        rows = [row for row, _ in pairs]
        means = metric.compute(
            predictions=[prediction for _, prediction in pairs],
            references=[r["answer"] for r in rows],
            tasks=[r["task"] for r in rows],
            options=[r["options"] for r in rows],
            facts=[r["fact"] for r in rows],
            questions=[r["question"] for r in rows],
            judge="llm",
        )
        for task, expected in results.scores[split].items():
            assert means[task] == pytest.approx(expected.mean), (split, task)
    # Both asked the same endpoint with the same prompts (the metric from the verdict cache).
    assert results.scores["forget"]["generation"].factuality == 0.25


def test_llm_judge_without_endpoint_is_one_clear_error(
    metric: evaluate.EvaluationModule, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MEDFORGET_JUDGE_BASE_URL", raising=False)
    with pytest.raises(MedForgetError, match="needs a base URL and a model"):
        metric.compute(**inputs(GEN), judge="llm")
    with pytest.raises(MedForgetError, match="unknown judge 'gpt'"):
        metric.compute(**inputs(GEN), judge="gpt")


def test_registration_puts_the_newest_copy_where_evaluate_looks(tmp_path: Path) -> None:
    from evaluate.loading import CachedEvaluationModuleFactory

    folder = tmp_path / "evaluate_modules" / "metrics" / CACHED_NAME
    stale = folder / ("0" * 64) / f"{METRIC_NAME}.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("raise RuntimeError('stale')\n")
    os.utime(stale, (4e9, 4e9))  # a copy from "the future": ours must still win
    script = register_metric(tmp_path)
    assert script.read_bytes() == (Path(medforget_data.metric_path()) / f"{METRIC_NAME}.py").read_bytes()
    assert script.stat().st_mtime > stale.stat().st_mtime
    assert register_metric(tmp_path) == script  # idempotent
    module = CachedEvaluationModuleFactory(
        CACHED_NAME, dynamic_modules_path=str(tmp_path / "evaluate_modules")
    )
    assert module.get_module().hash == script.parent.name


def test_metric_card_has_evaluates_sections_and_runs_as_a_space() -> None:
    folder = Path(medforget_data.metric_path())
    text = (folder / "README.md").read_text(encoding="utf-8")
    header = metadata_load(folder / "README.md")
    assert header is not None and header["sdk"] == "gradio" and header["app_file"] == "app.py"
    assert (folder / header["app_file"]).is_file()
    headings = re.findall(r"^#+ (.+)$", text, flags=re.MULTILINE)
    wanted = [
        "Metric Description",
        "How to Use",
        "Inputs",
        "Output Values",
        "Examples",
        "Limitations and Bias",
    ]
    assert [h for h in headings if h in wanted + ["Citation"]] == [*wanted, "Citation"]
    outputs = text.split("### Output Values", 1)[1].split("### Examples", 1)[0]
    assert all(f"**{key}**" in outputs for key in KEYS)
    inputs_section = text.split("### Inputs", 1)[1].split("### Output Values", 1)[0]
    for name in (
        "predictions",
        "references",
        "tasks",
        "options",
        "facts",
        "questions",
        "judge",
        "use_aggregator",
    ):
        assert f"**{name}**" in inputs_section
    assert "MEDFORGET_JUDGE_BASE_URL" in inputs_section and "arXiv:2512.09867" in text
    # The Space installs the package from its repository (tests/test_reliability_surfaces.py checks the URL).
    assert f"medforget @ {repository_requirement_url()}" in (folder / "requirements.txt").read_text()


def test_dataset_card_sizes_default_config_citations_and_uses(openi_mini_dir: Path, tmp_path: Path) -> None:
    import datasets

    card = DatasetCard.load(openi_mini_dir / "README.md")
    info = {entry["config_name"]: entry for entry in card.data.dataset_info}
    assert set(info) == set(CONFIGS)
    for config, entry in info.items():
        files = {s["name"]: openi_mini_dir / parquet_name(config, s["name"]) for s in entry["splits"]}
        for split in entry["splits"]:
            # datasets records the Arrow size of a split as num_bytes (what it computes on loading).
            assert split["num_bytes"] == pq.read_table(files[split["name"]]).nbytes > 0
        assert entry["download_size"] == sum(path.stat().st_size for path in files.values())
        assert entry["dataset_size"] == sum(s["num_bytes"] for s in entry["splits"])
    defaults = [c["config_name"] for c in card.data.configs if c.get("default")]
    assert defaults == [TRAIN_CONFIG]
    loaded = datasets.load_dataset(str(openi_mini_dir), cache_dir=str(tmp_path))  # no config name
    splits = {s["name"]: s for s in info[TRAIN_CONFIG]["splits"]}
    assert {name: len(ds) for name, ds in loaded.items()} == {n: s["num_examples"] for n, s in splits.items()}
    assert loaded["train"].info.splits["train"].num_bytes == splits["train"]["num_bytes"]

    text = card.text
    # No placeholder link: the one URL is the install line's, pyproject's repository.
    assert "https://" not in text.replace(repository_requirement_url(), "") and "](" not in text
    citations = text.split("## Citation", 1)[1]
    assert "arXiv:2512.09867" in citations and "10.1093/jamia/ocv080" in citations
    assert "Preparing a collection of radiology examinations for distribution and retrieval" in citations
    uses = text.split("## Uses", 1)[1].split("\n## ", 1)[0]
    assert "Out of scope" in uses and "Any clinical use" in uses and "CC BY-NC-ND 4.0" in uses
