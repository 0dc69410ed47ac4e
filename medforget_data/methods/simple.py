"""The two reference rows of every table: vanilla (no unlearning) and the retrain oracle."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from medforget_data.errors import MedForgetError
from medforget_data.methods.base import Method, MethodConfig, UnlearnSplits
from medforget_data.models.batches import device_of
from medforget_data.models.train import TrainConfig

# OracleConfig's fields that say what to train from, not how: never part of the TrainConfig
_STARTING_POINT = ("config_name", "base_model", "base_model_hash", "lora_rank", "lora_alpha")


class OracleConfig(MethodConfig, TrainConfig):
    """The fine-tuning recipe (TrainConfig, never retyped here) and what the vanilla model was trained
    from: a project model config, or a checkpoint (with its LoRA rank). `apply_method` fills what the
    caller left unset from the vanilla model's record, so the oracle is always the same architecture
    (and, from a checkpoint, the same checkpoint)."""

    config_name: str = "small"  # the project model config the vanilla model was trained with
    # None: the size's recipe rate (models/configs.py), as `medforget run` trains
    lr: float | None = Field(default=None, gt=0)
    base_model: str | None = None  # the checkpoint the vanilla model was fine-tuned from
    base_model_hash: str | None = None  # its content hash (checked before retraining)
    lora_rank: int | None = Field(default=None, ge=0)
    lora_alpha: int | None = Field(default=None, ge=1)

    def train_config(self) -> TrainConfig:
        unset = {"lr"} if self.lr is None else set()  # left unset, finetune() takes the size's rate
        return TrainConfig(**self.model_dump(exclude={*_STARTING_POINT, *unset}))


def oracle_config_from_record(config: OracleConfig, record) -> OracleConfig:
    """What the caller left unset, taken from the vanilla model's record (its recipe): its training
    recipe (the seed excepted: the method's own) and what it was trained from."""
    recipe = record.recipe
    base = recipe.base_model
    train = recipe.train.model_dump(exclude={"seed"}) if recipe.train is not None else {}
    known = {
        **train,
        "config_name": record.config_name if base is None else None,
        "base_model": base.path if base is not None else None,
        "base_model_hash": base.content_hash if base is not None else None,
        "lora_rank": recipe.lora_rank,
        "lora_alpha": recipe.lora_alpha,
    }
    update = {k: v for k, v in known.items() if v is not None and k not in config.model_fields_set}
    return OracleConfig(**{**config.model_dump(exclude_unset=True), **update})


class Vanilla(Method):
    def unlearn(self, model, processor, splits: UnlearnSplits, config: MethodConfig):
        return model


class Oracle(Method):
    """Retrain on train minus the level's forget split: `finetune(oracle_level=…)`, the function
    `medforget run` trains its oracles with, with the same recipe — from scratch for the project's
    models, from the same checkpoint for a fine-tuned checkpoint."""

    config_class: ClassVar[type[MethodConfig]] = OracleConfig

    def unlearn(self, model, processor, splits: UnlearnSplits, config: OracleConfig):
        from medforget_data.models.build import checkpoint_hash, load_model
        from medforget_data.models.finetune import finetune

        if splits.dataset_dir is None:
            raise MedForgetError(
                "the oracle retrains from the dataset: UnlearnSplits.dataset_dir is required"
            )
        base = Path(config.base_model) if config.base_model else None
        if base is not None and config.base_model_hash and checkpoint_hash(base) != config.base_model_hash:
            raise MedForgetError(f"{base} changed since the vanilla model was fine-tuned from it")
        device = str(device_of(model))  # where the vanilla model is
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "oracle"
            finetune(
                Path(splits.dataset_dir),
                out,
                config_name=config.config_name,
                train_config=config.train_config(),
                oracle_level=splits.level,
                base_model=base,
                lora_rank=config.lora_rank,
                lora_alpha=config.lora_alpha,
                device=device,
            )
            # in the vanilla model's precision (a checkpoint's may be bf16)
            oracle, _, _ = load_model(out, dtype=next(model.parameters()).dtype)
        return oracle.to(device)
