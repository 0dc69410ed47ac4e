"""The two reference rows of every table: vanilla (no unlearning) and the retrain oracle."""

from __future__ import annotations

import tempfile
from pathlib import Path

from medforget_data.errors import MedForgetError
from medforget_data.methods.base import MethodConfig, UnlearnSplits
from medforget_data.models.train import Precision, TrainConfig


class Vanilla:
    name = "vanilla"
    config_class = MethodConfig

    def unlearn(self, model, processor, splits: UnlearnSplits, config: MethodConfig, progress: bool = True):
        return model


class OracleConfig(MethodConfig):
    """The vanilla model's recipe; `apply_method` fills what is unset from the vanilla model's record,
    so the oracle is always the same architecture (and, from a checkpoint, the same checkpoint)."""

    config_name: str = "small"  # the project model config the vanilla model was trained with
    # the vanilla recipe's defaults, never retyped here
    epochs: int = TrainConfig.model_fields["epochs"].default
    batch_size: int = TrainConfig.model_fields["batch_size"].default
    lr: float | None = None  # None: the model size's recipe learning rate (models/configs.py)
    precision: Precision = "fp32"
    base_model: str | None = None  # the checkpoint the vanilla model was fine-tuned from
    base_model_hash: str | None = None  # its content hash when it was (checked before retraining)
    lora_rank: int | None = None
    lora_alpha: int | None = None


def oracle_config_from_record(config: OracleConfig, record) -> OracleConfig:
    """What the caller left unset, taken from the vanilla model's record (its recipe)."""
    recipe = record.recipe or {}
    base = recipe.get("base_model") or {}
    known = {
        "config_name": record.config_name if not base else None,
        "epochs": recipe.get("epochs"),
        "batch_size": recipe.get("batch_size"),
        "lr": recipe.get("lr"),
        "precision": recipe.get("precision"),
        "base_model": base.get("path"),
        "base_model_hash": base.get("content_hash"),
        "lora_rank": recipe.get("lora_rank"),
        "lora_alpha": recipe.get("lora_alpha"),
    }
    update = {k: v for k, v in known.items() if v is not None and k not in config.model_fields_set}
    return config.model_copy(update=update)


class Oracle:
    """Retrain on train minus the level's forget split with the vanilla recipe: from scratch for
    the project's models, from the same checkpoint for a fine-tuned checkpoint."""

    name = "oracle"
    config_class = OracleConfig

    def unlearn(self, model, processor, splits: UnlearnSplits, config: OracleConfig, progress: bool = True):
        from medforget_data.models.build import checkpoint_hash, load_model
        from medforget_data.models.finetune import finetune

        if splits.dataset_dir is None:
            raise MedForgetError(
                "the oracle retrains from the dataset: UnlearnSplits.dataset_dir is required"
            )
        base = Path(config.base_model) if config.base_model else None
        if base is not None and config.base_model_hash and checkpoint_hash(base) != config.base_model_hash:
            raise MedForgetError(f"{base} changed since the vanilla model was fine-tuned from it")
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "oracle"
            given_lr = {"lr": config.lr} if config.lr is not None else {}
            train_config = TrainConfig(
                epochs=config.epochs,
                batch_size=config.batch_size,
                seed=config.seed,
                precision=config.precision,
                **given_lr,
            )
            finetune(
                Path(splits.dataset_dir),
                out,
                config_name=config.config_name,
                train_config=train_config,
                oracle_level=splits.level,
                base_model=base,
                lora_rank=config.lora_rank,
                lora_alpha=config.lora_alpha,
                progress=progress,
            )
            oracle, _, _ = load_model(out, dtype=next(model.parameters()).dtype)
        return oracle
