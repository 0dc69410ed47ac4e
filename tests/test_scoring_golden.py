"""`medforget score` on a hand-made dataset folder: every number below is computed by hand."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from medforget_data.cli import main
from medforget_data.constants import REPORTED_SPLITS
from medforget_data.scoring.aggregate import mean_ci
from medforget_data.scoring.judge_offline import OfflineJudge, finding_status
from medforget_data.scoring.metrics import METRIC_FIELDS, UNSCORED
from medforget_data.scoring.results import ItemScore, read_results
from medforget_data.scoring.score import AnswerScore, score_answer, summarise
from medforget_data.scoring.submission import SubmissionMetadata, write_submission
from tests.scoring_fixtures import (
    HAND_HASH,
    ScriptedJudgeServer,
    hand_answers,
    hand_predictions,
    verdict,
    write_hand_dataset,
)

METADATA = SubmissionMetadata(method="hand", model="none", level="patient", seed=0, contact="a@b.c")
# ROUGE-L F1 of the two generation predictions, by hand (stemmed tokens):
# "no pleural effusion" vs "small left pleural effusion": LCS 2, P 2/3, R 2/4 → F 4/7
# "the patient is monica padilla" vs "monica padilla": LCS 2, P 2/5, R 1 → F 4/7
F_GEN_ROUGE = R_GEN_ROUGE = 4 / 7
F_GEN_TOTAL = 0.25 * F_GEN_ROUGE + 0.75 * 0.0  # the effusion is negated: factuality 0
R_GEN_TOTAL = 0.25 * R_GEN_ROUGE + 0.75 * 1.0  # the name appears exactly: factuality 1


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_hand_dataset(tmp_path / "hand")


def score(dataset: Path, submission: Path, out: Path, *extra: str) -> int:
    return main(
        ["score", str(submission), "--level", "patient", "--dataset", str(dataset), "--out", str(out), *extra]
    )


def test_hand_computed_scores_gaps_and_cis(
    dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    submission = tmp_path / "hand.jsonl"
    write_submission(submission, METADATA, hand_predictions())
    out = tmp_path / "results.json"
    assert score(dataset, submission, out) == 0
    results = read_results(out)
    assert results.dataset_hash == HAND_HASH and results.level == "patient"
    assert results.judge == {"name": "offline", "version": OfflineJudge.version}
    by_id = {i.id: i for i in results.items}
    assert by_id["f-cls"].score == 1.0 and by_id["r-cls"].score == 1.0  # "b) cardiomegaly", "Cardiomegaly."
    assert by_id["f-cloze"].score == 0.0 and by_id["r-cloze"].score == 1.0
    assert by_id["f-gen"].rouge_l == pytest.approx(F_GEN_ROUGE) and by_id["f-gen"].factuality == 0.0
    assert by_id["f-gen"].score == pytest.approx(F_GEN_TOTAL)
    assert by_id["r-gen"].score == pytest.approx(R_GEN_TOTAL)
    assert by_id["h-gen"].score == 1.0 and by_id["h-cloze"].score == 0.0

    scores = results.scores
    assert set(scores) == set(REPORTED_SPLITS)
    assert scores["forget"]["generation"].mean == pytest.approx(F_GEN_TOTAL)
    assert scores["retain"]["generation"].mean == pytest.approx(R_GEN_TOTAL)
    assert scores["sibling"]["cloze"].mean == 0.5 and scores["sibling"]["cloze"].n == 2
    # One item: the interval collapses onto it; two items [1, 0]: the seeded bootstrap, recomputed.
    assert (scores["retain"]["generation"].ci_low, scores["retain"]["generation"].ci_high) == pytest.approx(
        (R_GEN_TOTAL, R_GEN_TOTAL)
    )
    rng = np.random.default_rng(0)
    means = np.asarray([1.0, 0.0])[rng.integers(0, 2, size=(1000, 2))].mean(axis=1)
    expected_ci = tuple(np.percentile(means, [2.5, 97.5]))
    assert (scores["sibling"]["cloze"].ci_low, scores["sibling"]["cloze"].ci_high) == pytest.approx(
        expected_ci
    )

    assert results.gaps == {
        "generation": {"retain_minus_forget": pytest.approx(R_GEN_TOTAL - F_GEN_TOTAL)},  # = 0.75
        "classification": {"retain_minus_forget": 0.0},
        "cloze": {"retain_minus_forget": 1.0, "sibling_minus_forget": 0.5},
    }
    assert R_GEN_TOTAL - F_GEN_TOTAL == pytest.approx(0.75)
    assert results.utility is None and results.text_only is None and results.unscored == 0
    assert results.attacks is None
    printed = capsys.readouterr().out
    assert "retain − forget" in printed and "sibling − forget" in printed and "results written to" in printed


def test_utility_counts_only_image_answerable_holdout_items(dataset: Path, tmp_path: Path) -> None:
    vanilla = tmp_path / "vanilla.jsonl"
    write_submission(vanilla, METADATA.model_copy(update={"method": "vanilla"}), hand_answers())
    reference = tmp_path / "vanilla.json"
    assert score(dataset, vanilla, reference) == 0
    submission = tmp_path / "hand.jsonl"
    write_submission(submission, METADATA, hand_predictions())
    out = tmp_path / "results.json"
    assert score(dataset, submission, out, "--reference", str(reference)) == 0
    utility = read_results(out).utility
    assert utility is not None
    # holdout: only h-gen (1.0) counts; h-cloze (0.0, an identity fact) is left out → 1.0 / 1.0
    assert (utility["holdout"].score, utility["holdout"].reference, utility["holdout"].relative) == (
        1.0,
        1.0,
        1.0,
    )
    # retain: r-cls 1, r-cloze 1, r-gen 25/28 → 27/28, against a perfect reference
    assert utility["retain"].score == pytest.approx(27 / 28) and utility["retain"].relative == pytest.approx(
        27 / 28
    )
    # retain ∪ sibling (the reported utility): the same three and s-cloze-1 (1), s-cloze-2 (0) → 109/140
    reported = utility["retain_sibling"]
    assert (reported.score, reported.reference) == pytest.approx((109 / 140, 1.0))
    assert reported.relative == pytest.approx(109 / 140)


def test_text_only_predictions_get_their_own_table(dataset: Path, tmp_path: Path) -> None:
    predictions = hand_predictions()
    submission = tmp_path / "both.jsonl"
    write_submission(submission, METADATA, predictions, text_only=dict.fromkeys(predictions, ""))
    out = tmp_path / "results.json"
    assert score(dataset, submission, out) == 0
    results = read_results(out)
    assert results.text_only is not None and len(results.text_only.items) == len(predictions)
    assert all(s.mean == 0.0 for by_task in results.text_only.scores.values() for s in by_task.values())
    assert results.text_only.gaps["cloze"] == {"retain_minus_forget": 0.0, "sibling_minus_forget": 0.0}
    # The image+text scores are those of the plain submission.
    assert results.scores["forget"]["generation"].mean == pytest.approx(F_GEN_TOTAL)

    lines = submission.read_text(encoding="utf-8").splitlines()
    record = json.loads(lines[3])
    del record["prediction_text_only"]
    lines[3] = json.dumps(record)
    submission.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert score(dataset, submission, tmp_path / "mixed.json") == 2
    assert not (tmp_path / "mixed.json").exists()


@pytest.fixture
def judge_server() -> Iterator[ScriptedJudgeServer]:
    server = ScriptedJudgeServer()
    yield server
    server.close()


def test_cli_with_the_llm_judge(
    dataset: Path,
    tmp_path: Path,
    judge_server: ScriptedJudgeServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("MEDFORGET_JUDGE_API_KEY", "secret")
    judge_server.script = [verdict(0.5)]
    submission = tmp_path / "hand.jsonl"
    write_submission(submission, METADATA, hand_predictions())
    out = tmp_path / "llm.json"
    args = ["--judge", "llm", "--judge-base-url", judge_server.url, "--judge-model", "m"]
    args += ["--judge-cache", str(tmp_path / "cache"), "--judge-backoff", "0", "--judge-concurrency", "2"]
    assert score(dataset, submission, out, *args) == 0
    results = read_results(out)
    assert results.judge["name"] == "llm" and len(judge_server.requests) == 3  # three generation items
    assert results.scores["forget"]["generation"].mean == pytest.approx(0.25 * F_GEN_ROUGE + 0.75 * 0.5)
    assert results.scores["forget"]["cloze"].mean == 0.0  # exact match needs no judge

    # Rescoring hits the verdict cache: no new requests, the same results.
    assert score(dataset, submission, tmp_path / "again.json", *args) == 0
    assert len(judge_server.requests) == 3
    assert read_results(tmp_path / "again.json").scores == results.scores

    # Then the endpoint fails every try: generation items are unscored and counted, not zeroed.
    judge_server.script = [(500, "down")]
    other = tmp_path / "other.jsonl"
    write_submission(other, METADATA, {k: v + " " for k, v in hand_predictions().items()})
    capsys.readouterr()
    assert score(dataset, other, tmp_path / "down.json", *args, "--judge-retries", "1") == 0
    down = read_results(tmp_path / "down.json")
    assert down.unscored == 3 and down.scores["forget"]["generation"].unscored == 1
    assert math.isnan(down.scores["forget"]["generation"].mean)
    assert down.scores["retain"]["cloze"].mean == 1.0
    assert "3 items unscored" in capsys.readouterr().out


def test_cli_with_a_refusing_judge_writes_nothing(
    dataset: Path, tmp_path: Path, judge_server: ScriptedJudgeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    judge_server.script = [(404, '{"error": "no such model"}')]
    submission = tmp_path / "hand.jsonl"
    write_submission(submission, METADATA, hand_predictions())
    out = tmp_path / "llm.json"
    code = score(dataset, submission, out, "--judge", "llm", "--judge-base-url", judge_server.url,
                 "--judge-model", "m", "--judge-cache", str(tmp_path / "cache"))  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: llm judge") and "HTTP 404" in err and "\n" not in err
    assert not out.exists()
    assert (
        main(["score", str(submission), "--level", "patient", "--dataset", str(dataset), "--judge", "gpt"])
        == 2
    )
    assert "unknown judge 'gpt'" in capsys.readouterr().err
    code = main(["score", str(submission), "--level", "patient", "--dataset", str(dataset), "--judge", "llm",
                 "--judge-base-url", judge_server.url, "--judge-model", "m",
                 "--judge-retries", "-1"])  # fmt: skip
    assert code == 2 and "max_retries" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("The previously seen pleural effusion has resolved.", {"pleural effusion": "absent"}),
        ("Pneumothorax is not seen.", {"pneumothorax": "absent"}),
        ("No change in the small left pleural effusion.", {"pleural effusion": "present"}),
        ("Pneumonia cannot be excluded.", {"opacity": "present"}),
        (
            "No pleural effusion or pneumothorax is seen.",
            {"pleural effusion": "absent", "pneumothorax": "absent"},
        ),
        ("The lungs are free of focal airspace disease.", {"opacity": "absent"}),
        (
            "Cardiomegaly. No effusion; edema has resolved.",
            {"cardiomegaly": "present", "pleural effusion": "absent", "pulmonary edema": "absent"},
        ),  # fmt: skip
        ("Effusion on the left, no effusion on the right.", {"pleural effusion": "present"}),
    ],
)
def test_more_negation_cases(text: str, status: dict[str, str]) -> None:
    assert finding_status(text) == status


def test_summarise_and_the_metric_names_are_defined_once() -> None:
    assert AnswerScore._fields == METRIC_FIELDS
    assert set(METRIC_FIELDS) <= set(ItemScore.model_fields)
    judge = OfflineJudge()
    answers = [
        score_answer(
            "B", "B) cardiomegaly", "classification", ["nodule", "cardiomegaly", "x", "y"], "f", judge
        ),
        score_answer("Monica", "Monica Padilla", "cloze", [], "patient.name", judge),
        score_answer(
            "No pleural effusion.",
            "Small left pleural effusion.",
            "generation",
            [],
            "section.FINDINGS",
            judge,
        ),
    ]
    means = summarise(answers, ["classification", "cloze", "generation"])
    assert means == pytest.approx(
        {
            "score": (1 + 0 + F_GEN_TOTAL) / 3,
            "exact_match": 0.5,
            "rouge_l": F_GEN_ROUGE,
            "factuality": 0.0,
            "classification": 1.0,
            "cloze": 0.0,
            "generation": F_GEN_TOTAL,
        }
    )
    unscored = summarise(
        [AnswerScore(score=None, rouge_l=0.5), AnswerScore(score=1.0)], ["generation", "cloze"]
    )
    assert unscored[UNSCORED] == 1.0 and unscored["score"] == 1.0 and "generation" not in unscored


def test_bootstrap_in_blocks_equals_one_draw() -> None:
    values = list(np.random.default_rng(1).random(3000))
    rng = np.random.default_rng(5)
    means = np.asarray(values)[rng.integers(0, 3000, size=(1000, 3000))].mean(axis=1)  # one 3M draw
    assert mean_ci(values, seed=5)[1:] == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])))
    big = [0.0, 1.0] * 50_000  # blocks of 40 resamples
    mean, low, high = mean_ci(big, seed=0)
    assert mean == 0.5 and low < 0.5 < high and high - low < 0.01


def test_the_scoring_layer_loads_neither_torch_nor_transformers() -> None:
    # The `evaluate` wrapper is left out: `import evaluate` itself loads transformers when installed.
    code = (
        "import sys, medforget_data.cli.score, medforget_data.scoring.score_file;"
        "import medforget_data.scoring.judges, medforget_data.scoring.paths;"
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_a_byte_order_mark_is_accepted(tmp_path: Path) -> None:
    from medforget_data.scoring.submission import read_submission

    path = tmp_path / "bom.jsonl"
    write_submission(path, METADATA, {"a": "x"})
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    assert read_submission(path).predictions == {"a": "x"}
