"""The seeded fine-tuning loop: AdamW, warm-up + cosine, clipping, answer-only loss, checkpoints, resume."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Literal, get_args

import torch
from pydantic import BaseModel, ConfigDict, Field
from tqdm.auto import tqdm

from medforget_data.errors import MedForgetError
from medforget_data.models.batches import Encoded, answer_loss, collate, length_batches
from medforget_data.models.checkpoint import has_checkpoint, load_checkpoint, save_checkpoint

CHECKPOINT_DIR = "checkpoint"
Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = get_args(Precision)


def precision_dtype(precision: Precision) -> torch.dtype:
    return torch.bfloat16 if precision == "bf16" else torch.float32


class TrainConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    epochs: int = Field(default=28, ge=1)  # `small` on `full`: EM ≥ 0.9 on train (BENCHMARKS.md, issue 4)
    batch_size: int = Field(default=16, ge=1)
    lr: float = Field(default=2e-3, gt=0)
    weight_decay: float = Field(default=0.0, ge=0)
    warmup_fraction: float = Field(default=0.05, ge=0, le=1)
    clip_norm: float = Field(default=1.0, gt=0)
    seed: int = Field(default=0, ge=0)
    # bf16: forward and backward under autocast, fp32 master weights and optimizer state (GPU recipe)
    precision: Precision = "fp32"
    # a fresh model's vision tower is first trained to tell the images apart, then frozen
    # (models/vision_pretrain.py); 0 trains it jointly with the language model instead
    vision_pretrain_epochs: int = Field(default=80, ge=0)


def lr_factor(step: int, total: int, warmup: int) -> float:
    """Linear warm-up to 1, then cosine decay to 0."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    # One generator per epoch: a resumed run sees exactly the batch order of an uninterrupted one.
    return torch.Generator().manual_seed(seed * 1_000_003 + epoch)


def checkpoint_exists(checkpoint_root: Path | None) -> bool:
    """A whole checkpoint to resume from (damaged ones are reported and discarded here)."""
    return checkpoint_root is not None and has_checkpoint(checkpoint_root / CHECKPOINT_DIR)


def train(
    model,
    encoded: Sequence[Encoded],
    pad_id: int,
    config: TrainConfig,
    checkpoint_root: Path | None = None,
    resume: bool = False,
    progress: bool = True,
    device: str = "cpu",
    parameters: Sequence[torch.nn.Parameter] | None = None,
    stop_after_epochs: int | None = None,
    accelerator=None,
) -> list[dict]:
    """Train in place; returns the per-epoch history (mean loss, seconds).

    `stop_after_epochs` ends the run early, as an interruption would (the resume test uses it).
    With an `accelerate.Accelerator`, each process takes every world-size-th batch of the same
    seeded order and gradients are averaged across processes (multi-GPU or multi-process CPU).
    """
    torch.manual_seed(config.seed)
    model.to(device).train()
    trainable = (
        list(parameters) if parameters is not None else [p for p in model.parameters() if p.requires_grad]
    )
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    rank, world = (accelerator.process_index, accelerator.num_processes) if accelerator else (0, 1)
    if accelerator is not None:
        model, optimizer = accelerator.prepare(model, optimizer)
        device = accelerator.device
    steps_per_epoch = math.ceil(len(encoded) / config.batch_size) // world
    total = steps_per_epoch * config.epochs
    warmup = max(1, int(config.warmup_fraction * total))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: lr_factor(step, total, warmup))
    history: list[dict] = []
    start_epoch = 0
    checkpoint = checkpoint_root / CHECKPOINT_DIR if checkpoint_root else None
    restored = load_checkpoint(checkpoint, model, optimizer, scheduler) if resume and checkpoint else None
    if restored is not None:  # else none, or only damaged ones (reported): this model trains anew
        start_epoch, history = restored
    bar = tqdm(
        total=total,
        initial=start_epoch * steps_per_epoch,
        desc="fine-tuning",
        unit="step",
        disable=not progress,
    )
    for epoch in range(start_epoch, config.epochs):
        began, losses = time.perf_counter(), []
        batches = length_batches(encoded, config.batch_size, epoch_generator(config.seed, epoch))
        for indices in batches[rank::world][:steps_per_epoch]:  # equal step counts keep processes in sync
            batch = collate([encoded[i] for i in indices], pad_id)
            with torch.autocast(
                torch.device(device).type, dtype=torch.bfloat16, enabled=config.precision == "bf16"
            ):
                loss = answer_loss(model, batch, device)
            if not torch.isfinite(loss):  # a diverged run must not be saved as a model
                raise MedForgetError(
                    f"training diverged: loss {loss.item()} at epoch {epoch}, step {len(losses)}; lower --lr"
                )
            optimizer.zero_grad(set_to_none=True)
            if accelerator is not None:
                accelerator.backward(loss)
                accelerator.clip_grad_norm_(trainable, config.clip_norm)
            else:
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, config.clip_norm)
            optimizer.step()
            scheduler.step()
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}")
        history.append(
            {"epoch": epoch, "loss": sum(losses) / len(losses), "seconds": time.perf_counter() - began}
        )
        if checkpoint is not None and rank == 0:
            unwrapped = accelerator.unwrap_model(model) if accelerator is not None else model
            save_checkpoint(checkpoint, unwrapped, optimizer, scheduler, epoch, history)
        if stop_after_epochs is not None and epoch + 1 - start_epoch >= stop_after_epochs:
            break
    bar.close()
    model.eval()
    return history
