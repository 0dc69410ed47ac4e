"""The two reference rows of every table: vanilla (no unlearning) and the retrain oracle."""

from __future__ import annotations

import tempfile
from pathlib import Path

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
    epochs: int = 24
    batch_size: int = 16
    lr: float = 2e-3


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
            train_config = TrainConfig(
                epochs=config.epochs, batch_size=config.batch_size, lr=config.lr, seed=config.seed
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
