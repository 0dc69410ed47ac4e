"""The one training loop, and fine-tuning's use of it.

`fit` is the loop that fine-tuning (`train` below), vision pretraining (models/vision_pretrain.py)
and the loss-based unlearning methods (methods/trainer.py) share: AdamW, a warm-up + cosine or
constant schedule, bf16 autocast, gradient clipping, a divergence stop, epoch checkpoints and
resume, `accelerate`. Each user supplies only what differs: its batches and its loss.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar, get_args

import torch
from pydantic import BaseModel, ConfigDict, Field

from medforget_data import progress
from medforget_data.constants import CHECKPOINT_DIR
from medforget_data.errors import MedForgetError
from medforget_data.models.batches import (
    Encoded,
    WordingDraws,
    collate,
    device_of,
    length_batches,
)
from medforget_data.models.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint
from medforget_data.models.losses import answer_loss
from medforget_data.models.vision_cache import vision_cache

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)
Batch = TypeVar("Batch")


def precision_dtype(precision: Precision) -> torch.dtype:
    return torch.bfloat16 if precision == "bf16" else torch.float32


class LoopConfig(BaseModel):
    """What the loop reads of a recipe; fine-tuning's and each method's config extend it."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    epochs: int = Field(ge=1)
    lr: float = Field(gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    # None: a constant learning rate; else warm-up, then cosine
    warmup_fraction: float | None = Field(default=None, ge=0, le=1)
    clip_norm: float | None = Field(default=1.0, gt=0)  # None: no clipping
    # bf16: forward and backward under autocast, fp32 master weights and optimizer state (GPU recipe)
    precision: Precision = "fp32"


class TrainConfig(LoopConfig):
    """Fine-tuning's loop numbers. No defaults here: models/recipe.py `resolve_recipe` decides them."""

    epochs: int = Field(ge=1)
    batch_size: int = Field(ge=1)
    lr: float = Field(gt=0)
    warmup_fraction: float | None = Field(ge=0, le=1)  # None: a constant rate
    seed: int = Field(ge=0)
    # a fresh model's vision tower is first trained to tell the images apart, then frozen
    # (models/vision_pretrain.py); 0 trains it jointly with the language model instead
    vision_pretrain_epochs: int = Field(ge=0)


@dataclass(frozen=True)
class LoopSetup:
    """Where and how a loop runs, as opposed to what it learns (outside the recipe and every stage key)."""

    label: str = "training"  # the progress bar's
    checkpoint_root: Path | None = None  # a checkpoint under it after every epoch; None: none
    resume: bool = False  # continue from that checkpoint when there is one
    # an `accelerate.Accelerator`: gradients averaged across processes (each takes its share of batches)
    accelerator: Any = None
    # called with the epoch number after each epoch (the model in eval mode): a sweep reads the trajectory
    on_epoch: Callable[[int], None] | None = None


@dataclass(frozen=True)
class Objective(Generic[Batch]):
    """What a loop minimises: each epoch's batches and one batch's loss."""

    batches: Callable[[int], Iterable[Batch]]  # epoch → its batches; asked once per epoch, in order
    # (the model as trained — wrapped under accelerate —, a batch) → the scalar to minimise
    loss: Callable[[torch.nn.Module, Batch], torch.Tensor]
    steps_per_epoch: int


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up to 1, then cosine decay to 0."""
    if step < warmup:
        return (step + 1) / warmup
    done = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, done)))


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    # One generator per epoch: a resumed run sees exactly the batch order of an uninterrupted one.
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def checkpoint_exists(checkpoint_root: Path | None) -> bool:
    """A whole checkpoint to resume from (damaged ones are reported and discarded here)."""
    return checkpoint_root is not None and has_checkpoint(checkpoint_root / CHECKPOINT_DIR)


def fit(
    model: torch.nn.Module,
    parameters: Sequence[torch.nn.Parameter],
    objective: Objective,
    config: LoopConfig,
    setup: LoopSetup,
) -> list[dict]:
    """Minimise `objective` over `parameters` in place; returns the per-epoch history (mean loss, seconds).

    The caller seeds and places the model; the model is in train mode during the loop, eval after.
    """
    trainable = list(parameters)
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    accelerator = setup.accelerator
    if accelerator is not None:
        model, optimizer = accelerator.prepare(model, optimizer)
    unwrapped = accelerator.unwrap_model(model) if accelerator is not None else model
    total = objective.steps_per_epoch * config.epochs
    if config.warmup_fraction is None:
        factor = lambda step: 1.0  # noqa: E731  (x·1.0 = x: the constant rate is exactly config.lr)
    else:
        warmup = max(1, int(config.warmup_fraction * total))
        factor = lambda step: lr_factor(step, total, warmup)  # noqa: E731
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    history: list[dict] = []
    start_epoch = 0
    checkpoint = setup.checkpoint_root / CHECKPOINT_DIR if setup.checkpoint_root else None
    restored = (
        load_checkpoint(checkpoint, unwrapped, optimizer, scheduler) if setup.resume and checkpoint else None
    )
    if restored is not None:  # else none, or only damaged ones (reported): this model trains anew
        start_epoch, history = restored
    model.train()
    device_type = trainable[0].device.type if trainable else "cpu"
    is_main = accelerator is None or accelerator.is_main_process
    bar = progress.bar(
        total=total, initial=start_epoch * objective.steps_per_epoch, desc=setup.label, unit="step"
    )
    # a frozen tower's output is computed once per image (a tower being trained is never cached)
    with vision_cache(unwrapped), bar:  # the bar closes before any error is printed: the error is last
        for epoch in range(start_epoch, config.epochs):
            began, losses = time.perf_counter(), []
            for batch in objective.batches(epoch):
                with torch.autocast(device_type, dtype=torch.bfloat16, enabled=config.precision == "bf16"):
                    loss = objective.loss(model, batch)
                if not torch.isfinite(loss):  # a diverged run must not be saved as a model
                    raise MedForgetError(
                        f"training diverged: loss {loss.item()} at epoch {epoch}, step {len(losses)}; "
                        "lower the learning rate"
                    )
                optimizer.zero_grad(set_to_none=True)
                if accelerator is not None:
                    accelerator.backward(loss)
                else:
                    loss.backward()
                if config.clip_norm is not None:
                    if accelerator is not None:
                        accelerator.clip_grad_norm_(trainable, config.clip_norm)
                    else:
                        torch.nn.utils.clip_grad_norm_(trainable, config.clip_norm)
                optimizer.step()
                scheduler.step()
                losses.append(loss.item())
                bar.update(1)
                bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}")
            mean = sum(losses) / max(1, len(losses))
            history.append({"epoch": epoch, "loss": mean, "seconds": time.perf_counter() - began})
            if checkpoint is not None and is_main:
                save_checkpoint(checkpoint, unwrapped, optimizer, scheduler, epoch, history)
            if setup.on_epoch is not None:
                model.eval()
                setup.on_epoch(epoch)
                model.train()
    model.eval()
    return history


def train(
    model, encoded: Sequence[Encoded], pad_id: int, config: TrainConfig, setup: LoopSetup | None = None
) -> list[dict]:
    """Fine-tune in place on the answer-only NLL, where the model is; returns the per-epoch history.

    Trains the parameters that require gradients. Under `setup.accelerator`, each process takes
    every world-size-th batch of the same seeded order (multi-GPU or multi-process CPU).
    """
    setup = setup or LoopSetup(label="fine-tuning")
    torch.manual_seed(config.seed)
    accelerator = setup.accelerator
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    steps_per_epoch = math.ceil(len(encoded) / config.batch_size) // world

    def batches(epoch: int) -> Iterable[dict[str, torch.Tensor]]:
        # one training wording per item this epoch (WordingDraws), else the encodings as given
        drawn = encoded.for_epoch(config.seed, epoch) if isinstance(encoded, WordingDraws) else encoded
        order = length_batches(drawn, config.batch_size, epoch_generator(config.seed, epoch))
        for indices in order[rank::world][:steps_per_epoch]:  # equal step counts keep processes in sync
            yield collate([drawn[i] for i in indices], pad_id)

    objective = Objective(batches, lambda m, batch: answer_loss(m, batch, device_of(m)), steps_per_epoch)
    trainable = [p for p in model.parameters() if p.requires_grad]
    return fit(model, trainable, objective, config, setup)
