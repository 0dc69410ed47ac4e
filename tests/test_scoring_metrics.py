"""Golden values for the scoring core: hand-computed, or from an independent implementation."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from medforget_data.scoring.aggregate import gap, mean_ci, relative
from medforget_data.scoring.judge_offline import OfflineJudge, finding_status, findings_agreement
from medforget_data.scoring.metrics import exact_match, generation_total, rouge_l
from medforget_data.scoring.normalise import normalise, parse_option
from medforget_data.scoring.results import ItemScore
from medforget_data.scoring.score import aggregate, split_gaps

OPTIONS = ["nodule", "cardiomegaly", "opacity", "no acute abnormality"]


@pytest.mark.parametrize(
    ("prediction", "letter"),
    [
        ("B", "B"),
        ("B)", "B"),
        ("(b)", "B"),
        ("b) cardiomegaly", "B"),
        ("Cardiomegaly.", "B"),
        ("B. Cardiomegaly", "B"),
        ("  d) No acute abnormality ", "D"),
        ("The answer is opacity", "C"),
        ("The answer is B", "B"),
        ("Answer: b) cardiomegaly", "B"),
        ("Correct option - D", "D"),
        ("Option A or B", None),
        ("The answer is E", None),
        ("b) nodule", None),
        ("A) nodule B) cardiomegaly", None),
        ("cardiomegaly and nodule", None),
        ("E", None),
        ("", None),
        ("pneumothorax", None),
    ],
)
def test_option_parsing(prediction: str, letter: str | None) -> None:
    assert parse_option(prediction, OPTIONS) == letter


def test_an_option_inside_another_counts_once() -> None:
    views = ["PA", "AP", "lateral", "PA and lateral"]
    assert parse_option("PA and lateral", views) == "D"
    assert parse_option("A) PA and lateral", ["PA and lateral", "lateral", "PA", "AP"]) == "A"
    assert parse_option("PA", views) == "A"


def test_exact_match_cases() -> None:
    assert exact_match("b) cardiomegaly", "B) cardiomegaly", "classification", OPTIONS) == 1.0
    assert exact_match("C", "B) cardiomegaly", "classification", OPTIONS) == 0.0
    assert exact_match("  Monica  Padilla.", "Monica Padilla", "cloze", ()) == 1.0
    assert exact_match("Monica", "Monica Padilla", "cloze", ()) == 0.0
    assert normalise("MRN-0042, Ünïcode") == "mrn 0042 ünïcode"


def test_rouge_l_and_total_hand_computed() -> None:
    # LCS("the heart is normal", "heart size normal") = "heart normal": P = 2/4, R = 2/3, F = 4/7
    assert rouge_l("the heart is normal", "heart size normal") == pytest.approx(4 / 7)
    assert rouge_l("", "heart") == 0.0
    assert generation_total(0.4, 1.0) == pytest.approx(0.25 * 0.4 + 0.75)


def _lcs_f1(prediction: list[str], reference: list[str]) -> float:
    """ROUGE-L F1 written out independently: LCS by dynamic programming."""
    table = [[0] * (len(reference) + 1) for _ in range(len(prediction) + 1)]
    for i, a in enumerate(prediction):
        for j, b in enumerate(reference):
            table[i + 1][j + 1] = table[i][j] + 1 if a == b else max(table[i][j + 1], table[i + 1][j])
    lcs = table[-1][-1]
    if not lcs:
        return 0.0
    precision, recall = lcs / len(prediction), lcs / len(reference)
    return 2 * precision * recall / (precision + recall)


def test_rouge_l_matches_an_independent_lcs_on_generated_strings() -> None:
    words = ["heart", "lung", "clear", "small", "left", "right", "base", "effusion", "normal", "mild"]
    rng = random.Random(0)
    for _ in range(200):
        prediction = [rng.choice(words) for _ in range(rng.randint(1, 12))]
        reference = [rng.choice(words) for _ in range(rng.randint(1, 12))]
        assert rouge_l(" ".join(prediction), " ".join(reference)) == pytest.approx(
            _lcs_f1(prediction, reference)
        )


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("No pleural effusion.", {"pleural effusion": "absent"}),
        ("Small left pleural effusion.", {"pleural effusion": "present"}),
        (
            "No pleural effusion or pneumothorax. Mild cardiomegaly.",
            {"pleural effusion": "absent", "pneumothorax": "absent", "cardiomegaly": "present"},
        ),
        (
            "No focal consolidation, but there is a right effusion.",
            {"opacity": "absent", "pleural effusion": "present"},
        ),
        ("Heart size is normal. The lungs are clear.", {}),
        ("Without evidence of pneumothorax.", {"pneumothorax": "absent"}),
    ],
)
def test_negation_cases(text: str, status: dict[str, str]) -> None:
    assert finding_status(text) == status


def test_findings_agreement_and_identity_facts() -> None:
    assert findings_agreement("No pleural effusion.", "Small pleural effusion.") == 0.0
    assert findings_agreement("Cardiomegaly. No effusion.", "Heart is enlarged. No pleural effusion.") == 1.0
    # reference mentions effusion (present) and pneumothorax (absent); prediction only the effusion
    assert findings_agreement("Right effusion.", "Right effusion. No pneumothorax.") == 0.5
    judge = OfflineJudge()
    assert judge.factuality("", "The patient is Monica Padilla.", "Monica Padilla", "patient.name") == 1.0
    assert judge.factuality("", "Monica Padillo", "Monica Padilla", "patient.name") == 0.0
    assert judge.factuality("", "born 1939-04-14", "1939-04-14", "patient.birth_date") == 1.0


def test_bootstrap_ci_matches_a_hand_computation() -> None:
    values = [0.0, 1.0, 1.0, 0.0, 1.0]
    mean, low, high = mean_ci(values, seed=3, samples=500)
    rng = np.random.default_rng(3)
    means = np.asarray(values)[rng.integers(0, 5, size=(500, 5))].mean(axis=1)
    assert mean == pytest.approx(0.6)
    assert (low, high) == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])))
    assert mean_ci([0.5] * 7) == (0.5, 0.5, 0.5)
    assert all(math.isnan(v) for v in mean_ci([]))


def test_gap_and_utility_arithmetic() -> None:
    items = [
        ItemScore(id=f"f{i}", split="forget", task="cloze", image_answerable=False, score=s)
        for i, s in enumerate([0.0, 1.0, 0.0, 0.0])
    ]
    items += [
        ItemScore(id=f"r{i}", split="retain", task="cloze", image_answerable=False, score=s)
        for i, s in enumerate([1.0, 1.0, 1.0, 0.0])
    ]
    items += [
        ItemScore(id="s0", split="sibling", task="cloze", image_answerable=False, score=0.5),
        ItemScore(id="s1", split="sibling", task="cloze", image_answerable=False, score=None),
    ]
    scores = aggregate(items)
    assert scores["forget"]["cloze"].mean == 0.25 and scores["retain"]["cloze"].mean == 0.75
    assert scores["sibling"]["cloze"].unscored == 1 and scores["sibling"]["cloze"].mean == 0.5
    assert split_gaps(scores) == {"cloze": {"retain_minus_forget": 0.5, "sibling_minus_forget": 0.25}}
    assert gap(0.9, 0.2) == pytest.approx(0.7) and relative(0.3, 0.6) == 0.5
