"""One resolved recipe: every training number decided in `resolve_recipe`, the whole value in the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from medforget_data.models import configs
from medforget_data.models.build import MODEL_CARD_FILE
from medforget_data.models.lora import PUBLISHED_LORA
from medforget_data.models.recipe import CHECKPOINT_DEFAULTS, RecipeOptions, resolve_recipe
from medforget_data.pipeline.config import RunConfig
from medforget_data.pipeline.layout import Stage
from medforget_data.pipeline.runner import BenchmarkRun
from medforget_data.pipeline.state import RunState, stage_key


def changed(value: object) -> object:
    """A different value of the same type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 2 + 1
    if isinstance(value, tuple):
        return (*value[:-1], value[-1] + 1)
    if isinstance(value, str):
        return "bf16" if value == "fp32" else value + "x"
    raise AssertionError(f"no change for {value!r}")


def test_a_project_model_trains_at_its_sizes_rate_and_a_checkpoint_by_the_published_recipe() -> None:
    for name, spec in configs.MODEL_SPECS.items():
        assert resolve_recipe(name, RecipeOptions()).train.lr == spec.lr
    assert resolve_recipe("small", RecipeOptions(lr=5e-4)).train.lr == 5e-4  # an option wins
    checkpoint = resolve_recipe("/ckpt/model", RecipeOptions(), checkpoint_hash="ab")
    assert checkpoint.lora == PUBLISHED_LORA and (checkpoint.lora.rank, checkpoint.lora.alpha) == (16, 16)
    assert checkpoint.train.lr == CHECKPOINT_DEFAULTS["lr"] == 1e-4 and checkpoint.train.epochs == 10
    assert resolve_recipe("/ckpt/model", RecipeOptions(lora_rank=0), checkpoint_hash="ab").lora is None


def test_every_field_of_the_recipe_and_the_model_spec_changes_the_model_key(synthetic_mini_dir: Path) -> None:
    run = BenchmarkRun(RunConfig(model="tiny", levels=("patient",)), synthetic_mini_dir, Path("unused"))
    base = run.model_key(None).key
    train = run.recipe.train
    variants = [run.recipe.model_copy(update={"gradient_checkpointing": True})]
    variants += [
        run.recipe.model_copy(update={"train": train.model_copy(update={field: changed(value)})})
        for field, value in train.model_dump().items()
        if value is not None
    ]
    variants += [
        run.recipe.model_copy(update={"spec": run.recipe.spec.model_copy(update={field: changed(value)})})
        for field, value in run.recipe.spec.model_dump().items()
    ]
    assert len(variants) == 1 + 9 + len(configs.ModelSpec.model_fields)
    keys = set()
    for variant in variants:
        run.recipe = variant
        keys.add(run.model_key(None).key)
    assert base not in keys and len(keys) == len(variants)


def test_editing_model_specs_retrains_and_says_why_in_one_line(
    synthetic_mini_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    trained: list[float] = []

    def record_training(
        dataset, folder: Path, recipe, **_: object
    ):  # the runner's decision, not the training
        trained.append(recipe.train.lr)
        folder.mkdir(parents=True)
        (folder / MODEL_CARD_FILE).write_text("{}")
        return type("Record", (), {"recipe": type("R", (), {"wall_seconds": 1.0})()})()

    monkeypatch.setattr("medforget_data.pipeline.runner.finetune", record_training)
    config = RunConfig(model="tiny", levels=("patient",))
    BenchmarkRun(config, synthetic_mini_dir, tmp_path).trained_model(None)
    BenchmarkRun(config, synthetic_mini_dir, tmp_path).trained_model(None)  # unchanged: reused
    assert trained == [2e-3] and capsys.readouterr().err == ""
    tiny = configs.MODEL_SPECS["tiny"]
    monkeypatch.setitem(configs.MODEL_SPECS, "tiny", tiny.model_copy(update={"lr": 1e-3}))
    BenchmarkRun(config, synthetic_mini_dir, tmp_path).trained_model(None)
    assert trained == [2e-3, 1e-3]
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["model-vanilla: redone (recipe.spec.lr: 0.002 → 0.001; recipe.train.lr: 0.002 → 0.001)"]


def test_a_marker_from_another_key_version_says_so(tmp_path: Path) -> None:
    from medforget_data.pipeline.layout import RunLayout

    state = RunState(RunLayout(tmp_path))
    stage = Stage.cell("patient", "ga")
    state.mark(stage, stage_key({"version": 1, "config": {"lr": 1}}), done=True)
    assert state.why_redone(stage, stage_key({"version": 2, "config": {"lr": 1}})) == (
        "cell-patient-ga: redone (version: 1 → 2)"
    )
    assert state.why_redone(stage, stage_key({"version": 1, "config": {"lr": 1}})) is None
    state.layout.marker(stage).write_text('{"key": "old"}')  # schema 1: no stage, no payload
    assert "older version" in state.why_redone(stage, stage_key({"version": 2}))
