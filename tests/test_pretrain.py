"""Pretrained bases (issue 30): trained on the disjoint corpus, cached, saved in the Hub layout, and
fine-tuned by the benchmark through the checkpoint path."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from medforget_data.cli import main
from medforget_data.constants import LEVELS, PRETRAINING_FILE, REPHRASED_SPLITS
from medforget_data.dataset.manifest import BuildConfig, parquet_name
from medforget_data.errors import MedForgetError
from medforget_data.models import pretrain
from medforget_data.models.build import checkpoint_hash, load_model
from medforget_data.models.configs import PRETRAINED_NAMES
from medforget_data.models.families import family_of_model
from medforget_data.models.finetune import finetune
from medforget_data.models.recipe import BASE_DEFAULTS, RecipeOptions, resolve_recipe
from medforget_data.pipeline.config import RunConfig
from medforget_data.pipeline.layout import Stage
from medforget_data.pipeline.runner import BenchmarkRun

QUICK = RecipeOptions(epochs=1, vision_pretrain_epochs=2)  # seconds, not minutes: the path, not the quality


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> pretrain.PretrainedBase:
    out = tmp_path_factory.mktemp("base") / "tiny-pretrained"
    return pretrain.pretrain_base("tiny-pretrained", BuildConfig(size="mini"), out, QUICK)


def test_a_base_records_its_corpus_recipe_and_leakage_and_is_trained_once(tiny_base) -> None:
    record = json.loads((tiny_base.folder / PRETRAINING_FILE).read_text())
    assert record["model"] == "tiny-pretrained" and record["recipe"]["train"]["epochs"] == 1
    assert record["corpus"]["benchmark"] == BuildConfig(size="mini").model_dump(mode="json")
    assert set(record["corpus"]["leakage"]["shared"].values()) == {0}
    corpus = pretrain.corpus_dir(BuildConfig(size="mini"))
    assert record["corpus_hash"] == json.loads((corpus / "manifest.json").read_text())["dataset_hash"]
    # every corpus example of an epoch: train + holdout + the train items' held-out wordings
    counts = json.loads((corpus / "manifest.json").read_text())["counts"]
    # every level's rephrasings, each item once (read from the split files, not through the library)
    rephrased = {
        item_id
        for level in LEVELS
        for split in REPHRASED_SPLITS
        for item_id in pq.read_table(corpus / parquet_name(level, split), columns=["id"])
        .column("id")
        .to_pylist()
    }
    assert record["examples"] == counts["train"]["train"] + counts["train"]["holdout"] + len(rephrased)
    before = checkpoint_hash(tiny_base.folder)
    again = pretrain.pretrain_base("tiny-pretrained", BuildConfig(size="mini"), tiny_base.folder, QUICK)
    assert again.seconds == 0 and checkpoint_hash(again.folder) == before  # found, not retrained
    changed = RecipeOptions(epochs=2, vision_pretrain_epochs=2)
    with pytest.raises(MedForgetError, match="holds another base"):
        pretrain.pretrain_base("tiny-pretrained", BuildConfig(size="mini"), tiny_base.folder, changed)


def test_a_base_loads_with_the_transformers_auto_classes(tiny_base) -> None:
    from transformers import AutoModelForImageTextToText, AutoTokenizer

    model, processor, _ = load_model(tiny_base.folder)
    auto = AutoModelForImageTextToText.from_pretrained(tiny_base.folder)
    assert type(auto) is type(model)
    saved = model.state_dict()
    assert all(torch.equal(value, saved[name]) for name, value in auto.state_dict().items())
    assert AutoTokenizer.from_pretrained(tiny_base.folder).encode("MRN-123") == processor.tokenizer.encode(
        "MRN-123"
    )


def test_the_benchmark_fine_tunes_a_base_as_a_checkpoint(tiny_base, openi_mini_dir: Path, tmp_path) -> None:
    recipe = resolve_recipe(tiny_base.folder, RecipeOptions(epochs=1), checkpoint_hash(tiny_base.folder))
    # a project base: its language model in full at the base recipe's rate, no LoRA, tower frozen
    assert recipe.spec is None and recipe.lora is None and recipe.train.lr == BASE_DEFAULTS["lr"]
    assert recipe.train.vision_pretrain_epochs == 0
    assert resolve_recipe(tiny_base.folder, RecipeOptions(lora_rank=8), "x").lora.rank == 8
    record = finetune(openi_mini_dir, tmp_path / "vanilla", recipe)
    assert (
        record.recipe.mode == "vanilla" and record.recipe.base_model.record["recipe"]["mode"] == "pretraining"
    )
    base, _, _ = load_model(tiny_base.folder)
    tuned, _, _ = load_model(tmp_path / "vanilla")
    family = family_of_model(base)
    tuned_weights = tuned.state_dict()
    parts = {family.part(name) for name in tuned_weights}
    assert parts >= {"language", "vision"}
    for name, value in base.state_dict().items():
        if family.part(name) != "language":  # tower and projector: frozen, bit-identical
            assert torch.equal(value, tuned_weights[name]), name
    assert any(
        not torch.equal(value, tuned_weights[name])
        for name, value in base.state_dict().items()
        if family.part(name) == "language"
    )


def test_a_run_on_a_base_pretrains_it_once_and_times_it(openi_mini_dir: Path, tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(pretrain, "PRETRAINING_OPTIONS", QUICK)
    config = RunConfig(model="tiny-pretrained", levels=("patient",), methods=("ga",), epochs=1, sweep="none")
    run = BenchmarkRun(config, openi_mini_dir, tmp_path / "run")
    assert run.base is not None and run.base.seconds > 0
    assert run.recipe.checkpoint_hash == checkpoint_hash(run.base.folder)
    run.record_base()
    assert run.state.read(Stage.base()).seconds["pretrain"] == run.base.seconds
    assert "pretrain" in run.stage_seconds()
    second = BenchmarkRun(config, openi_mini_dir, tmp_path / "run")
    assert second.base.folder == run.base.folder and second.base.seconds == 0
    assert second.model_key(None) == run.model_key(None)  # the same base: the same vanilla


def test_names_and_errors(capsys) -> None:
    assert PRETRAINED_NAMES == ("tiny-pretrained", "small-pretrained", "base-pretrained")
    assert RunConfig(model="small-pretrained").pretrained() == "small-pretrained"
    assert RunConfig(model="small-pretrained").checkpoint() is None
    with pytest.raises(MedForgetError, match="small-pretrained"):
        RunConfig(model="small-pretrain")
    assert main(["pretrain", "--config", "huge"]) == 2
    assert "model config" in capsys.readouterr().err
    assert main(["pretrain", "--size", "medium"]) == 2
    assert capsys.readouterr().err.count("\n") == 1
