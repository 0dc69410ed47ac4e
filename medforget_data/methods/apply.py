"""Apply a registered method to a loaded model at one level: validated config, data check, timing, record.

`medforget unlearn` saves what this returns; `medforget run` scores it in memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from medforget_data.constants import Level
from medforget_data.dataset.built import BuiltDataset
from medforget_data.errors import MedForgetError
from medforget_data.methods import get_method
from medforget_data.methods.base import MethodConfig, load_unlearn_splits
from medforget_data.methods.simple import Oracle, OracleConfig, oracle_config_from_record
from medforget_data.models.build import ModelRecord, UnlearnRecipe

UNLEARN_RECORD_SCHEMA_VERSION = 1


class UnlearnRecord(BaseModel):
    """`unlearn.json` beside a model `medforget unlearn` saved: what was applied to which model."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = UNLEARN_RECORD_SCHEMA_VERSION
    method: str
    level: Level
    config: dict[str, Any]  # the method's validated config (each method has its own fields)
    base_model: str
    dataset_hash: str
    wall_seconds: float


@dataclass
class Unlearned:
    model: object
    record: ModelRecord
    wall_seconds: float


def apply_method(
    name: str,
    model,
    processor,
    record: ModelRecord,
    dataset: BuiltDataset | Path,
    level: str,
    config: MethodConfig | None = None,
) -> Unlearned:
    method = get_method(name)
    config = config or method.config()
    if isinstance(config, OracleConfig):  # the vanilla model's own recipe and architecture
        config = oracle_config_from_record(config, record)
    dataset = BuiltDataset.of(dataset)
    if record.dataset_hash != dataset.dataset_hash:
        raise MedForgetError(f"the model was trained on another dataset than {dataset.folder}")
    began = time.perf_counter()
    if isinstance(method, Oracle):  # a reference, not an unlearner: it retrains on train minus forget
        model = method.retrain(model, dataset, level, config)
    else:
        model = method.unlearn(model, processor, load_unlearn_splits(dataset, level), config)
    wall = time.perf_counter() - began
    return Unlearned(
        model=model, record=unlearned_record(record, dataset, name, level, model), wall_seconds=wall
    )


def unlearned_record(record: ModelRecord, dataset: BuiltDataset, name: str, level: str, model) -> ModelRecord:
    """The record of `model`, made by method `name` at `level` from the model `record` describes."""
    step = UnlearnRecipe(method=name, level=level)
    previous = record.recipe.unlearn
    before = record.recipe.unlearn_chain or ((previous,) if previous else ())
    return ModelRecord(
        config_name=record.config_name,
        dataset_hash=dataset.dataset_hash,
        parameters=sum(p.numel() for p in model.parameters()),
        # "unlearn": this step (what attack and generate read); "unlearn_chain": every step, in order,
        # so unlearning an unlearned model keeps what came before
        recipe=record.recipe.model_copy(update={"unlearn": step, "unlearn_chain": (*before, step)}),
        history=record.history,
    )
