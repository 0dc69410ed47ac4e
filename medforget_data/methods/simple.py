"""The two reference rows of every table: vanilla (no unlearning) and the retrain oracle."""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import Field

from medforget_data.errors import MedForgetError
from medforget_data.methods.base import MethodConfig, UnlearnSplits
from medforget_data.models.train import TrainConfig


class Vanilla:
    name = "vanilla"
    config_class = MethodConfig

    def unlearn(self, model, processor, splits: UnlearnSplits, config: MethodConfig, progress: bool = True):
        return model


class OracleConfig(MethodConfig):
    config_name: str = "small"  # the model config the vanilla model was trained with
    # the vanilla recipe's defaults, never retyped here
    epochs: int = Field(default=TrainConfig.model_fields["epochs"].default, ge=1)
    batch_size: int = Field(default=TrainConfig.model_fields["batch_size"].default, ge=1)
    # None: the model size's recipe learning rate (models/configs.py)
    lr: float | None = Field(default=None, gt=0)


class Oracle:
    """Retrain from scratch on train minus the level's forget split, with the vanilla recipe."""

    name = "oracle"
    config_class = OracleConfig

    def unlearn(self, model, processor, splits: UnlearnSplits, config: OracleConfig, progress: bool = True):
        from medforget_data.models.build import load_model
        from medforget_data.models.finetune import finetune

        if splits.dataset_dir is None:
            raise MedForgetError(
                "the oracle retrains from the dataset: UnlearnSplits.dataset_dir is required"
            )
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "oracle"
            given_lr = {"lr": config.lr} if config.lr is not None else {}
            train_config = TrainConfig(
                epochs=config.epochs, batch_size=config.batch_size, seed=config.seed, **given_lr
            )
            finetune(
                Path(splits.dataset_dir),
                out,
                config_name=config.config_name,
                train_config=train_config,
                oracle_level=splits.level,
                progress=progress,
            )
            oracle, _, _ = load_model(out)
        return oracle
