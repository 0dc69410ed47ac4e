"""Attack math on constructed scores and logits; reconstruction prompts for every level and depth."""

from __future__ import annotations

import json
import math
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import ks_2samp

from medforget_data.attacks.forget_quality import ks_forget_quality, score_distance
from medforget_data.attacks.mia import (
    loss_score,
    min_k_plus_plus_score,
    min_k_plus_plus_tokens,
    min_k_score,
    privleak,
    roc_auc,
    zlib_score,
)
from medforget_data.attacks.reconstruction import DEPTHS, HierarchyFacts, attack_question, context_levels
from medforget_data.constants import LEVELS, PARTITION_SPLITS
from medforget_data.dataset.load import read_split_items
from medforget_data.dataset.manifest import HIERARCHY_FILE
from medforget_data.dataset.schema import Hierarchy


def test_auc_separable_identical_and_ties() -> None:
    assert roc_auc([0.9, 0.8, 0.7], [0.1, 0.2]) == 1.0
    assert roc_auc([0.1, 0.2], [0.9, 0.8, 0.7]) == 0.0
    assert roc_auc([0.5, 0.5], [0.5]) == 0.5
    rng = np.random.default_rng(0)
    same = rng.normal(size=4000)
    assert roc_auc(same[:2000], same[2000:]) == pytest.approx(0.5, abs=0.03)
    # hand count: pairs (3>1, 3>2, 2=2 → ½, 1<2 ...): members [3, 2], non-members [1, 2] → (2 + 1.5) / 4
    assert roc_auc([3, 2], [1, 2]) == 0.875


def test_loss_zlib_and_min_k_on_a_small_vector() -> None:
    logprobs = torch.tensor([-0.1, -2.0, -0.5, -3.0, -0.2])
    assert loss_score(logprobs) == pytest.approx(-5.8 / 5)
    assert zlib_score(logprobs, "effusion") == pytest.approx(-5.8 / len(zlib.compress(b"effusion")))
    # k = 40% of 5 tokens → the 2 lowest: −3.0 and −2.0
    assert min_k_score(logprobs, 0.4) == pytest.approx(-2.5)


def test_min_k_plus_plus_matches_a_hand_computation() -> None:
    logits = torch.tensor([[math.log(0.5), math.log(0.25), math.log(0.25)], [0.0, 0.0, 0.0]])
    targets = torch.tensor([1, 0])
    scores = min_k_plus_plus_tokens(logits, targets)
    # position 0: log p = log ¼; μ = ½log½ + ½log¼; σ² = E[(log p)²] − μ²
    lp = [math.log(0.5), math.log(0.25), math.log(0.25)]
    p = [0.5, 0.25, 0.25]
    mu = sum(pi * li for pi, li in zip(p, lp, strict=True))
    sigma = math.sqrt(sum(pi * li * li for pi, li in zip(p, lp, strict=True)) - mu * mu)
    assert scores[0].item() == pytest.approx((math.log(0.25) - mu) / sigma)
    # a uniform distribution has σ = 0: the score is 0 (clamped), not NaN
    assert scores[1].item() == pytest.approx(0.0, abs=1e-6)
    assert min_k_plus_plus_score(scores, 0.5) == pytest.approx(min(scores.tolist()))


def test_ks_and_distances() -> None:
    a, b = [0.1, 0.4, 0.35, 0.8], [0.2, 0.3, 0.9, 0.7, 0.6]
    assert ks_forget_quality(a, b) == pytest.approx(ks_2samp(a, b).pvalue)
    assert score_distance({"x": 1.0, "y": 0.0, "z": None}, {"x": 0.5, "y": 0.0, "z": 1.0}) == 0.25
    assert privleak(0.75, 0.5) == 0.5 and privleak(0.5, 0.5) == 0.0


@pytest.mark.parametrize("level", LEVELS)
def test_reconstruction_context_never_holds_the_items_own_facts(openi_mini_dir: Path, level: str) -> None:
    hierarchy = Hierarchy.model_validate(json.loads((openi_mini_dir / HIERARCHY_FILE).read_text()))
    facts = HierarchyFacts(hierarchy)
    patients = {p.id: p for p in hierarchy.patients}
    institutions = {i.id: i for i in hierarchy.institutions}
    studies = {s.id: s for s in hierarchy.studies}
    items = [i for split in PARTITION_SPLITS[:1] for i in read_split_items(openi_mini_dir, level, split)]
    assert items
    for item in items:
        for depth in DEPTHS:
            question = attack_question(item, depth, facts)
            assert question.endswith(item.question)
            context = question[: len(question) - len(item.question)]
            added = context_levels(item, depth)
            assert all(LEVELS.index(lvl) < LEVELS.index(item.fact_level) for lvl in added)
            if item.fact_level != "section":  # a section's text is never context; identity facts might be
                assert item.answer.split(") ", 1)[-1] not in context or item.fact == "patient.sex"
            if depth == "none":
                assert context == ""
            if "institution" in added:
                assert institutions[item.institution_id].name in context
            if "patient" in added:
                assert patients[item.patient_id].mrn in context
            if "study" in added:
                assert studies[item.study_id].date in context
    assert context_levels(items[0], "study") == tuple(
        lvl
        for lvl in ("institution", "patient", "study")
        if LEVELS.index(lvl) < LEVELS.index(items[0].fact_level)
    )
