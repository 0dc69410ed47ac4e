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


class Vanilla(Method):
    def unlearn(self, model, processor, splits: UnlearnSplits, config: MethodConfig):
        return model


class OracleConfig(MethodConfig, TrainConfig):
    """The fine-tuning recipe (TrainConfig, never retyped here) and the size the vanilla model has."""

    config_name: str = "small"
    # None: the size's recipe rate (models/configs.py), as `medforget run` trains
    lr: float | None = Field(default=None, gt=0)

    def train_config(self) -> TrainConfig:
        unset = {"lr"} if self.lr is None else set()  # left unset, finetune() takes the size's rate
        return TrainConfig(**self.model_dump(exclude={"config_name", *unset}))


class Oracle(Method):
    """Retrain from scratch on train minus the level's forget split: `finetune(oracle_level=…)`, the
    function `medforget run` trains its oracles with, with the same recipe."""

    config_class: ClassVar[type[MethodConfig]] = OracleConfig

    def unlearn(self, model, processor, splits: UnlearnSplits, config: OracleConfig):
        from medforget_data.models.build import load_model
        from medforget_data.models.finetune import finetune

        if splits.dataset_dir is None:
            raise MedForgetError(
                "the oracle retrains from the dataset: UnlearnSplits.dataset_dir is required"
            )
        device = str(device_of(model))  # where the vanilla model is
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "oracle"
            finetune(
                Path(splits.dataset_dir),
                out,
                config_name=config.config_name,
                train_config=config.train_config(),
                oracle_level=splits.level,
                device=device,
            )
            oracle, _, _ = load_model(out)
        return oracle.to(device)
