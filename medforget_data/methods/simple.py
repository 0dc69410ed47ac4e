"""The two reference rows of every table: vanilla (no unlearning) and the retrain oracle."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import ClassVar

from pydantic import Field

from medforget_data.dataset.built import BuiltDataset
from medforget_data.errors import MedForgetError
from medforget_data.methods.base import Method, MethodConfig, UnlearnSplits
from medforget_data.models.batches import device_of
from medforget_data.models.build import ModelRecord, load_model
from medforget_data.models.finetune import finetune
from medforget_data.models.recipe import FinetuneRecipe


class OracleConfig(MethodConfig):
    """The vanilla model's own fine-tuning recipe (`recipe`, filled from its record by `apply_method`),
    with the method's seed; a caller may change the loop's epochs, rate or batch size. So the oracle is
    always the same architecture (and, from a checkpoint, the same checkpoint and adapters)."""

    epochs: int | None = Field(default=None, ge=1)
    lr: float | None = Field(default=None, gt=0)
    batch_size: int | None = Field(default=None, ge=1)
    recipe: FinetuneRecipe | None = None  # the vanilla model's (`Recipe.finetune` of its record)

    def resolved(self) -> FinetuneRecipe:
        if self.recipe is None:
            raise MedForgetError("the oracle retrains by the vanilla model's recipe: none was given")
        changes = {key: getattr(self, key) for key in ("epochs", "lr", "batch_size") if getattr(self, key)}
        train = self.recipe.train.model_copy(update={**changes, "seed": self.seed})
        return self.recipe.model_copy(update={"train": train})


def oracle_config_from_record(config: OracleConfig, record: ModelRecord) -> OracleConfig:
    """`config` with the vanilla model's recipe, unless the caller gave one."""
    if config.recipe is not None:
        return config
    if record.recipe.finetune is None:
        raise MedForgetError(
            f"model {record.config_name!r} records no fine-tuning recipe: the oracle cannot retrain it"
        )
    return config.model_copy(update={"recipe": record.recipe.finetune})


class Vanilla(Method):
    def unlearn(self, model, processor, splits: UnlearnSplits, config: MethodConfig):
        return model


class Oracle(Method):
    """Retrain on train minus the level's forget split: `finetune(oracle_level=…)`, the function
    `medforget run` trains its oracles with, with the vanilla model's recipe — from scratch for the
    project's models, from the same checkpoint (its content hash checked) for a fine-tuned checkpoint.
    A reference, not an unlearner: it reads `train` (report-only nodes included), so it takes the
    dataset (`retrain`), never the unlearner's view."""

    config_class: ClassVar[type[MethodConfig]] = OracleConfig

    def unlearn(self, model, processor, splits: UnlearnSplits, config: OracleConfig):
        raise MedForgetError("the oracle retrains from the dataset, not the unlearner's view: call retrain")

    def retrain(self, model, dataset: BuiltDataset, level: str, config: OracleConfig):
        device = str(device_of(model))  # where the vanilla model is
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "oracle"
            finetune(dataset, out, config.resolved(), oracle_level=level, device=device)
            # in the vanilla model's precision (a checkpoint's may be bf16)
            oracle, _, _ = load_model(out, dtype=next(model.parameters()).dtype)
        return oracle.to(device)
