"""What one benchmark run is: dataset, model, methods, levels, recipe — and the key of each stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from medforget_data.constants import DEFAULT_SEED, LEVELS, REFERENCE_METHODS
from medforget_data.errors import check_choice
from medforget_data.methods import METHOD_NAMES, get_method, make_config
from medforget_data.methods.base import StrengthGrid
from medforget_data.models.configs import MODEL_NAMES, PRETRAINED_NAMES
from medforget_data.models.device import check_device
from medforget_data.models.families import family_of_folder
from medforget_data.models.recipe import FinetuneRecipe, RecipeOptions
from medforget_data.models.train import Precision
from medforget_data.scoring.selection import DEFAULT_UTILITY_FLOOR

UNLEARNING_METHODS: tuple[str, ...] = tuple(m for m in METHOD_NAMES if m not in REFERENCE_METHODS)
# default: each method's strength grid is swept and the floor rule's point reported (design §10);
# none: each method once, at its config (the single-point table)
SweepMode = Literal["default", "none"]
SWEEP_MODES: tuple[SweepMode, ...] = get_args(SweepMode)
# local: every step in this process; ray: every step a Ray task (pipeline/executors.py)
ExecutorName = Literal["local", "ray"]
EXECUTORS: tuple[ExecutorName, ...] = get_args(ExecutorName)


class MethodSettings(BaseModel):
    """A run's settings for one method (`--method-config`): config field overrides and its grid."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    config: dict[str, Any] = {}
    grid: StrengthGrid | None = None  # None: the method's registered grid

    @classmethod
    def parse(cls, method: str, value: dict[str, Any]) -> MethodSettings:
        """`{"beta": 0.2, "grid": {...}}`: every key but `grid` overrides the method's config."""
        config = {key: item for key, item in value.items() if key != "grid"}
        return cls(config=config, grid=value.get("grid")).checked(method)

    def checked(self, method: str) -> MethodSettings:
        """Itself, once every config it makes is valid for `method` (else one line naming the field)."""
        check_choice("method", method, UNLEARNING_METHODS)
        make_config(method, self.config)
        for setting in (self.grid or get_method(method).grid).settings():
            make_config(method, {**self.config, **setting})
        return self


class RunConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    # a project model config, a pretrained base ("small-pretrained": built on first use, then fine-tuned
    # as a checkpoint), or a checkpoint folder (Qwen2.5-VL, LLaVA)
    model: str = "small"
    lora_rank: int | None = Field(default=None, ge=0)  # checkpoints: None = the recipe's, 0 = full
    methods: tuple[str, ...] = UNLEARNING_METHODS
    levels: tuple[str, ...] = LEVELS
    epochs: int | None = Field(default=None, ge=1)  # None: the fine-tuning recipe's default
    seed: int = Field(default=DEFAULT_SEED, ge=0)
    device: str = "cpu"
    precision: Precision = "fp32"  # bf16: bf16 weights for unlearning/generation, autocast training
    # processes per training of vanilla and each oracle (models/distributed.py): > 1 spans GPUs (or CPU
    # processes) with accelerate inside one step; it changes the batches' split, so the models' key
    training_processes: int = Field(default=1, ge=1)
    # where the steps run (pipeline/executors.py); not part of any stage key: a run resumes under either
    executor: ExecutorName = "local"
    ray_address: str | None = None  # None: a cluster on this machine; "auto": the one `ray start` began
    # the share of a GPU each training or generating step holds on Ray: on a GPU one small training
    # leaves it ~89% idle (launch-bound, BENCHMARKS.md), so e.g. 0.2 runs five at once
    ray_gpus: float = Field(default=1.0, gt=0, le=1)
    batch_size: int = Field(default=32, ge=1)  # generation
    # None: per task, its longest reference answer plus a margin (models/generate.py: answer_caps)
    max_new_tokens: int | None = Field(default=None, ge=1)
    sweep: SweepMode = "default"
    utility_floor: float = Field(default=DEFAULT_UTILITY_FLOOR, gt=0, le=1)
    method_settings: dict[str, MethodSettings] = {}  # per method (`--method-config FILE`)

    def settings_of(self, method: str) -> MethodSettings:
        return self.method_settings.get(method) or MethodSettings()

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str) -> str:
        if value in MODEL_NAMES or value in PRETRAINED_NAMES:
            return value
        if Path(value).is_dir():
            family_of_folder(Path(value))  # an unsupported model_type is refused before anything runs
            return str(Path(value).resolve())
        check_choice("model config", value, (*MODEL_NAMES, *PRETRAINED_NAMES))  # neither: names them
        return value

    @field_validator("method_settings")
    @classmethod
    def _valid_settings(cls, value: dict[str, MethodSettings]) -> dict[str, MethodSettings]:
        return {method: settings.checked(method) for method, settings in value.items()}

    @field_validator("device")
    @classmethod
    def _usable_device(cls, value: str) -> str:
        return check_device(value)

    @model_validator(mode="after")
    def _rank_needs_a_checkpoint(self) -> RunConfig:
        if self.lora_rank and self.checkpoint() is None and self.pretrained() is None:
            raise ValueError("lora_rank needs a checkpoint folder or a pretrained base as the model")
        return self

    def checkpoint(self) -> Path | None:
        """The checkpoint folder the run fine-tunes, or None for a project model config or base."""
        return None if self.model in (*MODEL_NAMES, *PRETRAINED_NAMES) else Path(self.model)

    def pretrained(self) -> str | None:
        """The pretrained base's name when the run fine-tunes one (its folder is resolved by the run)."""
        return self.model if self.model in PRETRAINED_NAMES else None

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

    def recipe_options(self) -> RecipeOptions:
        """What the run sets of the fine-tuning recipe; `resolve_recipe` decides the rest."""
        return RecipeOptions(
            epochs=self.epochs, lora_rank=self.lora_rank, seed=self.seed, precision=self.precision
        )

    def cell_methods(self) -> tuple[str, ...]:
        """Per level, in the order they must run: the oracle's attack and vanilla's scores come first."""
        return (*REFERENCE_METHODS, *self.methods)


RUN_RECORD_SCHEMA_VERSION = 2  # 2: the resolved fine-tuning recipe


class RunRecord(BaseModel):
    """`<run>/run.json`: what the run was asked to do, on which dataset."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = RUN_RECORD_SCHEMA_VERSION
    config: RunConfig
    recipe: FinetuneRecipe  # what vanilla and every oracle are trained by
    dataset_dir: str
    dataset_hash: str
