"""The shared unlearning trainer: forget batches paired with retain batches, one overridable loss.

Each loss-based method is a subclass that overrides `forget_loss` (and, for KL, `retain_loss`),
in the style of OpenUnlearning's `trainer/unlearn/*.py`. The frozen reference model (the model
before unlearning) is built once and shared by the terms that need it.
"""

from __future__ import annotations

import copy
import itertools
import time
from typing import ClassVar, Literal

import torch
from pydantic import Field
from tqdm.auto import tqdm

from medforget_data.methods.base import MethodConfig, UnlearnSplits
from medforget_data.methods.losses import answer_logits, nll
from medforget_data.models.batches import AnswerLogits, Encoder, collate, length_batches
from medforget_data.models.families import family_of_model

ParameterScope = Literal["language", "language+merger", "all"]


class LossConfig(MethodConfig):
    epochs: int = 5
    batch_size: int = 16
    lr: float = 5e-4
    alpha: float = 1.0  # weight of the retain term
    clip_norm: float = 1.0
    parameters: ParameterScope = "language"
    # LoRA adapters of this rank on the language layers instead of full weights (large models); the
    # reference (KL, NPO, Forget-MI) is then the adapter-disabled model, and adapters merge at the end
    lora_rank: int | None = Field(default=None, ge=1)
    lora_alpha: int = 16
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory, ~1/3 slower


def trainable_parameters(model, scope: ParameterScope) -> list[torch.nn.Parameter]:
    """The parameters a method moves: the language model (+ the projector/merger, + the vision tower);
    the family says which parameter is in which part."""
    family = family_of_model(model)
    allowed = {"language": ("language",), "language+merger": ("language", "projector")}.get(
        scope, ("language", "projector", "vision")
    )
    return [parameter for name, parameter in model.named_parameters() if family.part(name) in allowed]


class AdaptersDisabled:
    """A peft model seen with its adapters switched off: the model before unlearning, without a copy."""

    def __init__(self, model) -> None:
        self.model = model

    def __call__(self, *args, **kwargs):
        with self.model.disable_adapter():
            return self.model(*args, **kwargs)

    def __getattr__(self, name: str):
        return getattr(self.model, name)


class LossMethod:
    """Gradient-based unlearning: minimise forget_loss + α·retain_loss."""

    name: ClassVar[str] = "loss"
    config_class: ClassVar[type[MethodConfig]] = LossConfig
    uses_retain: ClassVar[bool] = True
    needs_reference: ClassVar[bool] = False

    def __init__(self) -> None:
        self.reference = None

    def forget_loss(self, model, batch: dict[str, torch.Tensor], config: LossConfig) -> torch.Tensor:
        raise NotImplementedError

    def retain_loss(self, model, batch: dict[str, torch.Tensor], config: LossConfig) -> torch.Tensor:
        """The shared retain term: NLL on retain data (KL overrides it with a divergence to the reference)."""
        return nll(model, batch, _device(model))

    def loss(self, model, forget_batch, retain_batch, config: LossConfig) -> torch.Tensor:
        total = self.forget_loss(model, forget_batch, config)
        if self.uses_retain and retain_batch is not None:
            total = total + config.alpha * self.retain_loss(model, retain_batch, config)
        return total

    def reference_logits(self, batch: dict[str, torch.Tensor]) -> AnswerLogits:
        """The frozen reference's logits at the batch's answer positions."""
        with torch.no_grad():
            return answer_logits(self.reference, batch, _device(self.reference))

    def retain_examples(self, splits: UnlearnSplits):
        """GradDiff's retain set is retain ∪ sibling (design §8)."""
        return splits.retain + splits.sibling

    def unlearn(self, model, processor, splits: UnlearnSplits, config: LossConfig, progress: bool = True):
        torch.manual_seed(config.seed)
        if config.lora_rank:
            from medforget_data.models.finetune import add_lora

            model = add_lora(model, config.lora_rank, config.lora_alpha)
            if self.needs_reference:
                self.reference = AdaptersDisabled(model)
        elif self.needs_reference:
            self.reference = copy.deepcopy(model).eval()
            for parameter in self.reference.parameters():
                parameter.requires_grad_(False)
        if config.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        encoder = Encoder(processor)
        pad = encoder.pad_id
        forget = [encoder.encode(e) for e in splits.forget]
        retain = [encoder.encode(e) for e in self.retain_examples(splits)] if self.uses_retain else []
        parameters = (
            [p for p in model.parameters() if p.requires_grad]
            if config.lora_rank
            else trainable_parameters(model, config.parameters)
        )
        optimizer = torch.optim.AdamW(parameters, lr=config.lr)
        model.train()
        generator = torch.Generator().manual_seed(config.seed)
        retain_batches = (
            itertools.cycle(length_batches(retain, config.batch_size, generator)) if retain else None
        )
        steps = config.epochs * len(length_batches(forget, config.batch_size, torch.Generator()))
        began = time.perf_counter()
        with tqdm(total=steps, desc=f"unlearning ({self.name})", unit="step", disable=not progress) as bar:
            for _ in range(config.epochs):
                for indices in length_batches(forget, config.batch_size, generator):
                    forget_batch = collate([forget[i] for i in indices], pad)
                    retain_batch = (
                        collate([retain[i] for i in next(retain_batches)], pad) if retain_batches else None
                    )
                    loss = self.loss(model, forget_batch, retain_batch, config)
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    torch.nn.utils.clip_grad_norm_(parameters, config.clip_norm)
                    optimizer.step()
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss.item():.3f}")
        if config.lora_rank:
            model = model.merge_and_unload()
        if config.gradient_checkpointing:
            model.gradient_checkpointing_disable()
        model.eval()
        self.reference = None
        self.wall_seconds = time.perf_counter() - began
        return model


def _device(model) -> torch.device:
    return next(model.parameters()).device
