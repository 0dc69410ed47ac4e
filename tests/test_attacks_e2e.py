"""Attacks end to end on tiny models: vanilla leaks membership more than its oracle; leakage curves."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from medforget_data.attacks.model_attacks import attack
from medforget_data.attacks.plot import plot_leakage
from medforget_data.dataset.built import BuiltDataset
from medforget_data.dataset.manifest import read_manifest
from medforget_data.errors import MedForgetError
from medforget_data.methods import get_method, make_config
from medforget_data.methods.base import load_unlearn_splits
from medforget_data.models.batches import Encoder
from medforget_data.models.build import ModelRecord, Recipe, UnlearnRecipe, new_model
from medforget_data.models.recipe import RecipeOptions, resolve_recipe
from medforget_data.models.train import train
from medforget_data.scoring.judge_offline import OfflineJudge
from medforget_data.scoring.results import Results, write_results
from medforget_data.scoring.score import score_predictions
from medforget_data.scoring.submission import SubmissionMetadata

RECIPE = resolve_recipe("tiny", RecipeOptions(epochs=25, batch_size=8, lr=5e-3, seed=0)).train


def tiny_trained_on(dataset: Path, examples: list):
    model, processor = new_model("tiny", dataset, seed=0)
    encoder = Encoder(processor)
    train(model, [encoder.encode(e) for e in examples], processor.tokenizer.pad_token_id, RECIPE)
    return model, processor


def gold_results(dataset: Path, method: str) -> Results:
    items = BuiltDataset(dataset).level_items("patient")
    gold = {i.id: i.answer for split in items.values() for i in split}
    meta = SubmissionMetadata(method=method, model="tiny", level="patient", seed=0, contact="test")
    return score_predictions(items, gold, meta, OfflineJudge(), read_manifest(dataset).dataset_hash)


def results_file(dataset: Path, method: str, out: Path) -> Path:
    write_results(out, gold_results(dataset, method))
    return out


def attacked(model, processor, record, dataset: Path, method: str, oracle: Results | None = None) -> Results:
    results = gold_results(dataset, method)
    attacks = attack(model, processor, record, dataset, "patient", results, oracle)
    return results.model_copy(update={"attacks": attacks})


@pytest.fixture(scope="module")
def models(synthetic_mini_dir: Path):
    splits = load_unlearn_splits(synthetic_mini_dir, "patient")
    shared = splits.unlearn_sibling + splits.unlearn_retain[:40]
    vanilla = tiny_trained_on(synthetic_mini_dir, splits.forget + shared)
    oracle = tiny_trained_on(synthetic_mini_dir, shared)  # the same recipe without the forget split
    record = ModelRecord(
        config_name="tiny", dataset_hash=read_manifest(synthetic_mini_dir).dataset_hash, parameters=1
    )
    return vanilla, oracle, record, splits


def test_vanilla_leaks_more_than_the_oracle_and_curves_are_drawn(
    synthetic_mini_dir: Path, tmp_path: Path, models
) -> None:
    (vanilla, processor), (oracle, oracle_processor), record, splits = models
    oracle_results = attacked(oracle, oracle_processor, record, synthetic_mini_dir, "oracle")
    vanilla_results = attacked(vanilla, processor, record, synthetic_mini_dir, "vanilla", oracle_results)
    mine, theirs = vanilla_results.attacks.membership, oracle_results.attacks.membership
    assert mine.auc["loss"] >= theirs.auc["loss"] + 0.1, (mine.auc, theirs.auc)
    quality = vanilla_results.attacks.forget_quality
    assert quality.privleak["loss"] > 0 and 0.0 <= quality.ks_p_value <= 1.0
    assert oracle_results.attacks.forget_quality is None
    recovery = vanilla_results.attacks.reconstruction.recovery
    assert set(recovery) == {"none", "institution", "patient", "study"}

    ga = get_method("ga").unlearn(
        copy.deepcopy(vanilla),
        processor,
        splits,
        make_config("ga", {"epochs": 3, "lr": 3e-3, "batch_size": 8}),
    )
    ga_results = attacked(ga, processor, record, synthetic_mini_dir, "ga")
    plot = plot_leakage({"vanilla": vanilla_results, "ga": ga_results}, tmp_path / "leakage.png")
    assert plot.read_bytes().startswith(b"\x89PNG") and plot.stat().st_size > 5000


def test_mismatched_inputs_are_refused(
    synthetic_mini_dir: Path, openi_mini_dir: Path, tmp_path: Path, models
) -> None:
    (vanilla, processor), _, record, _ = models
    results = gold_results(synthetic_mini_dir, "vanilla")
    with pytest.raises(MedForgetError, match="is for level 'patient', not 'study'"):
        attack(vanilla, processor, record, synthetic_mini_dir, "study", results)
    with pytest.raises(MedForgetError, match="was scored on another dataset"):
        attack(vanilla, processor, record, openi_mini_dir, "patient", results)
    unlearned_elsewhere = record.model_copy(
        update={"recipe": Recipe(unlearn=UnlearnRecipe(method="ga", level="study"))}
    )
    with pytest.raises(MedForgetError, match="unlearned at level 'study', not 'patient'"):
        attack(vanilla, processor, unlearned_elsewhere, synthetic_mini_dir, "patient", results)
    other_model = record.model_copy(update={"dataset_hash": "0" * 64})
    with pytest.raises(MedForgetError, match="trained on another dataset"):
        attack(vanilla, processor, other_model, synthetic_mini_dir, "patient", results)


def test_attack_cli_writes_the_section_and_the_plot(
    synthetic_mini_dir: Path, tmp_path: Path, models, capsys: pytest.CaptureFixture[str]
) -> None:
    from medforget_data.cli import main
    from medforget_data.models.build import save_model
    from medforget_data.scoring.results import read_results

    (vanilla, processor), _, record, _ = models
    save_model(vanilla, processor, tmp_path / "model", record)
    results = results_file(synthetic_mini_dir, "vanilla", tmp_path / "r.json")
    base = f"attack --dataset {synthetic_mini_dir} --model {tmp_path / 'model'} --results {results}".split()
    assert main([*base, "--level", "patient", "--plot", str(tmp_path / "curve.png")]) == 0
    assert "MIA AUC (forget vs holdout)" in capsys.readouterr().out
    assert set(read_results(results).attacks.membership.auc) == {
        "loss",
        "zlib",
        "min_k",
        "min_k_plus_plus",
    }
    assert (tmp_path / "curve.png").read_bytes().startswith(b"\x89PNG")
    assert main([*base, "--level", "ward"]) == 2
    assert "unknown level 'ward'" in capsys.readouterr().err


def test_membership_scores_equal_the_full_logits_formulas(models) -> None:
    """The attacks read logits at answer positions only; each score must equal its definition
    computed here from the full logits, position by position, in double precision."""
    import math
    import zlib

    import torch

    from medforget_data.attacks.collect import membership_scores
    from medforget_data.attacks.mia import MIN_K_FRACTION
    from medforget_data.models.batches import collate, model_inputs

    (model, processor), _, _, splits = models
    examples = splits.forget[:4]
    scores = membership_scores(model, processor, examples, batch_size=3)
    encoder = Encoder(processor)
    for example in examples:
        batch = collate([encoder.encode(example)], processor.tokenizer.pad_token_id)
        with torch.no_grad():
            logits = model(**model_inputs(batch, "cpu")).logits[0].double()
        labels = batch["labels"][0]
        positions = [t for t in range(1, len(labels)) if labels[t] != -100]
        log_probs = [torch.log_softmax(logits[t - 1], -1) for t in positions]
        picked = [float(lp[labels[t]]) for lp, t in zip(log_probs, positions, strict=True)]
        plus = []
        for lp, t in zip(log_probs, positions, strict=True):
            mu = float((lp.exp() * lp).sum())
            sigma = math.sqrt(float((lp.exp() * lp.square()).sum()) - mu * mu)
            plus.append((float(lp[labels[t]]) - mu) / sigma)
        lowest = max(1, int(MIN_K_FRACTION * len(picked)))
        expected = {
            "loss": sum(picked) / len(picked),
            "zlib": sum(picked) / len(zlib.compress(example.item.answer.encode("utf-8"))),
            "min_k": sum(sorted(picked)[:lowest]) / lowest,
            "min_k_plus_plus": sum(sorted(plus)[:lowest]) / lowest,
        }
        assert scores[example.item.id] == pytest.approx(expected, rel=1e-4, abs=1e-5)
