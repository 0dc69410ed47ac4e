"""The fine-tuning recipe, resolved once: every number that decides a training, from the model and
the options the user set. `resolve_recipe` is the one place a default is chosen; fine-tuning,
`medforget run`'s model keys, the oracle and the run record all read the value it returns.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from medforget_data.constants import DEFAULT_SEED, PRETRAINING_FILE
from medforget_data.errors import MedForgetError
from medforget_data.models.configs import MODEL_NAMES, MODEL_SPECS, ModelSpec
from medforget_data.models.lora import PUBLISHED_LORA, LoraSettings
from medforget_data.models.train import Precision, TrainConfig


class RecipeOptions(BaseModel):
    """What a user may set on the command line or in a config; None: the recipe's default."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    epochs: int | None = Field(default=None, ge=1)
    batch_size: int | None = Field(default=None, ge=1)
    lr: float | None = Field(default=None, gt=0)
    vision_pretrain_epochs: int | None = Field(default=None, ge=0)
    lora_rank: int | None = Field(default=None, ge=0)  # checkpoints only; 0: the language model in full
    lora_alpha: int | None = Field(default=None, ge=1)
    seed: int = Field(default=DEFAULT_SEED, ge=0)
    precision: Precision = "fp32"
    gradient_checkpointing: bool = False


class FinetuneRecipe(BaseModel):
    """Everything a fine-tuning's result depends on besides the data: the whole value is hashed
    into a run's model keys (pipeline/runner.py), so any change retrains."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model: str  # a project model config, or a checkpoint folder (resolved)
    spec: ModelSpec | None = None  # the project model's architecture and rate; None for a checkpoint
    checkpoint_hash: str | None = None  # the checkpoint's content (models/build.checkpoint_hash)
    train: TrainConfig
    lora: LoraSettings | None = None  # None: every language weight trains (project models: all of them)
    gradient_checkpointing: bool = False

    def checkpoint(self) -> Path | None:
        return None if self.spec is not None else Path(self.model)

    def identity(self) -> dict:
        """The recipe as it enters a key: a checkpoint by its content, not where it lies."""
        dump = self.model_dump(mode="json")
        if self.checkpoint() is not None:
            dump["model"] = None
        return dump


# A project model learns language, images and facts from random weights: long, with a warm-up,
# its tower pretrained first. `small` on `full` with drawn wordings: classification EM on train
# 0.904 at 28 epochs, 0.992 at 36 (BENCHMARKS.md, issue 18). The rate is the size's (ModelSpec.lr).
PROJECT_DEFAULTS = {"epochs": 36, "batch_size": 16, "warmup_fraction": 0.05, "vision_pretrain_epochs": 80}
# A checkpoint: the published MedForget recipe (lr 1e-4, 10 epochs, LoRA r 16 α 16); its tower is
# pretrained already and stays frozen.
CHECKPOINT_DEFAULTS = {
    "epochs": 10,
    "batch_size": 16,
    "lr": 1e-4,
    "warmup_fraction": 0.05,
    "vision_pretrain_epochs": 0,
}


# A project base (models/pretrain.py; a folder with PRETRAINING_FILE) already reads reports, frames and
# images: only the facts are new. Its language model fine-tunes in full (LoRA r16 measured against it:
# BENCHMARKS.md, issue 30), its tower and projector frozen like any checkpoint's. `small` on `full`: 12
# epochs leave the MRNs and dates at 0.80–0.88; 24 memorise every fact (1.000), at 0.74 of a
# from-scratch training's time.
BASE_DEFAULTS = {
    "epochs": 24,
    "batch_size": 16,
    "lr": 1e-3,
    "warmup_fraction": 0.05,
    "vision_pretrain_epochs": 0,
}
BASE_LORA: LoraSettings | None = None


def is_project_base(folder: Path) -> bool:
    return (Path(folder) / PRETRAINING_FILE).is_file()


def resolve_recipe(
    model: str | Path, options: RecipeOptions, checkpoint_hash: str | None = None
) -> FinetuneRecipe:
    """The recipe for `model` (a project config name, or a checkpoint folder with its content hash)."""
    is_project = str(model) in MODEL_NAMES
    set_numbers = {
        key: value
        for key in ("epochs", "batch_size", "lr", "vision_pretrain_epochs")
        if (value := getattr(options, key)) is not None
    }
    if is_project:
        spec = MODEL_SPECS[str(model)]
        if options.lora_rank or options.lora_alpha is not None:
            raise MedForgetError("LoRA (lora_rank, lora_alpha) needs a checkpoint folder as the model")
        numbers = {**PROJECT_DEFAULTS, "lr": spec.lr, **set_numbers}
        lora = None
    else:
        if checkpoint_hash is None:
            raise MedForgetError(f"{model}: a checkpoint's recipe needs its content hash")
        if set_numbers.get("vision_pretrain_epochs"):
            raise MedForgetError("vision pretraining is for the project's own models, not a checkpoint")
        spec = None
        base = is_project_base(Path(model))
        numbers = {**(BASE_DEFAULTS if base else CHECKPOINT_DEFAULTS), **set_numbers}
        default_lora = BASE_LORA if base else PUBLISHED_LORA
        rank = (default_lora.rank if default_lora else 0) if options.lora_rank is None else options.lora_rank
        alpha = options.lora_alpha or (default_lora.alpha if default_lora else PUBLISHED_LORA.alpha)
        lora = LoraSettings(rank=rank, alpha=alpha) if rank else None
    train = TrainConfig(seed=options.seed, precision=options.precision, **numbers)
    return FinetuneRecipe(
        model=str(model) if is_project else str(Path(model).resolve()),
        spec=spec,
        checkpoint_hash=None if is_project else checkpoint_hash,
        train=train,
        lora=lora,
        gradient_checkpointing=options.gradient_checkpointing,
    )
