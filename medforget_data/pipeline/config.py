"""What one benchmark run is: dataset, model, methods, levels, recipe — and the key of each stage."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, ConfigDict, Field, field_validator

from medforget_data.constants import DEFAULT_SEED, LEVELS, REFERENCE_METHODS
from medforget_data.errors import check_choice
from medforget_data.methods import METHOD_NAMES
from medforget_data.models.configs import MODEL_NAMES
from medforget_data.models.device import check_device
from medforget_data.models.train import TrainConfig

UNLEARNING_METHODS: tuple[str, ...] = tuple(m for m in METHOD_NAMES if m not in REFERENCE_METHODS)


class RunConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    model: str = "small"
    methods: tuple[str, ...] = UNLEARNING_METHODS
    levels: tuple[str, ...] = LEVELS
    epochs: int | None = Field(default=None, ge=1)  # None: the fine-tuning recipe's default
    seed: int = Field(default=DEFAULT_SEED, ge=0)
    device: str = "cpu"
    # Models (vanilla + one oracle per level) trained at once in separate processes: on a GPU one
    # small training leaves it ~89% idle (launch-bound, BENCHMARKS.md). Does not change any weights.
    training_jobs: int = Field(default=1, ge=1)
    batch_size: int = Field(default=32, ge=1)  # generation
    # None: per task, its longest reference answer plus a margin (models/generate.py: answer_caps)
    max_new_tokens: int | None = Field(default=None, ge=1)

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        check_choice("model config", value, MODEL_NAMES)
        return value

    @field_validator("device")
    @classmethod
    def _usable_device(cls, value: str) -> str:
        return check_device(value)

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            check_choice("method", name, UNLEARNING_METHODS)
        return tuple(m for m in UNLEARNING_METHODS if m in value)  # registry order, no repeats

    @field_validator("levels")
    @classmethod
    def _known_levels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("choose at least one level")
        for name in value:
            check_choice("level", name, LEVELS)
        return tuple(level for level in LEVELS if level in value)

    def train_config(self) -> TrainConfig:
        overrides = {"epochs": self.epochs} if self.epochs is not None else {}
        return TrainConfig(seed=self.seed, **overrides)

    def cell_methods(self) -> tuple[str, ...]:
        """Per level, in the order they must run: the oracle's attack and vanilla's scores come first."""
        return (*REFERENCE_METHODS, *self.methods)


RUN_RECORD_SCHEMA_VERSION = 1


class RunRecord(BaseModel):
    """`<run>/run.json`: what the run was asked to do, on which dataset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = RUN_RECORD_SCHEMA_VERSION
    config: RunConfig
    dataset_dir: str
    dataset_hash: str


def stage_key(payload: dict) -> str:
    """A stage's identity: the sha256 of everything that determines its output (canonical JSON)."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
