"""The loss-based methods' shared part: forget batches paired with retain batches, run by the one
training loop (models/train.py `fit`); each method overrides one loss, in the style of
OpenUnlearning's `trainer/unlearn/*.py`.

A method object holds nothing between calls: what the steps of one call share (the frozen
reference model, the seeded noise source) is built per call as a `StepContext` and passed to the loss.

Large checkpoints train LoRA adapters on the language layers instead (`lora_rank`): the reference is
then the same model with its adapters switched off (no copy), and the adapters merge back at the end.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from pydantic import Field, model_validator

from medforget_data.dataset.examples import Example
from medforget_data.methods.base import EpochHook, Method, MethodConfig, UnlearnSplits
from medforget_data.models.batches import Encoder, collate, device_of, length_batches
from medforget_data.models.families import family_of_model
from medforget_data.models.lora import PUBLISHED_LORA, LoraSettings, add_lora
from medforget_data.models.losses import AnswerLogits, answer_logits
from medforget_data.models.train import LoopConfig, LoopSetup, Objective, fit

ParameterScope = Literal["language", "language+merger", "all"]
Batch = dict[str, torch.Tensor]


class LossConfig(MethodConfig, LoopConfig):
    epochs: int = Field(default=5, ge=1)
    batch_size: int = Field(default=16, ge=1)
    lr: float = Field(default=5e-4, gt=0)
    # torch's AdamW default, which the methods have always trained with
    weight_decay: float = Field(default=0.01, ge=0)
    parameters: ParameterScope = "language"
    # LoRA adapters of this rank on the language layers instead of full weights (large models); the
    # reference (KL, NPO, Forget-MI) is then the adapter-disabled model, and adapters merge at the end
    lora_rank: int | None = Field(default=None, ge=1)
    lora_alpha: int = Field(default=PUBLISHED_LORA.alpha, ge=1)
    gradient_checkpointing: bool = False  # recompute activations in backward: less memory, ~1/3 slower

    @model_validator(mode="after")
    def _adapters_are_on_the_language_model(self) -> LossConfig:
        if self.lora_rank and self.parameters != "language":
            raise ValueError(f"lora_rank adapts the language layers only, not parameters={self.parameters!r}")
        return self


@dataclass(frozen=True)
class StepContext:
    """What the steps of one unlearning call share; built per call, never kept on the method."""

    reference: torch.nn.Module | None = None  # the model before unlearning, frozen
    noise: torch.Generator | None = None  # seeded per call (Forget-MI's pixel noise)


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


def frozen_copy(model) -> torch.nn.Module:
    reference = copy.deepcopy(model).eval()
    for parameter in reference.parameters():
        parameter.requires_grad_(False)
    return reference


def reference_logits(context: StepContext, batch: Batch) -> AnswerLogits:
    """The frozen reference's logits at the batch's answer positions."""
    with torch.no_grad():
        return answer_logits(context.reference, batch, device_of(context.reference))


class LossMethod(Method):
    """Gradient-based unlearning: minimise `loss` over forget batches, each paired with a retain batch."""

    config_class: ClassVar[type[MethodConfig]] = LossConfig

    def uses_retain(self, config: LossConfig) -> bool:
        return True

    def needs_reference(self, config: LossConfig) -> bool:
        return False

    def loss(
        self, model, forget_batch: Batch, retain_batch: Batch | None, config: LossConfig, context: StepContext
    ) -> torch.Tensor:
        raise NotImplementedError

    def context(self, model, config: LossConfig) -> StepContext:
        """With `lora_rank`, `model` is the adapter-wrapped one and the reference its adapter-less self."""
        reference = None
        if self.needs_reference(config):
            reference = AdaptersDisabled(model) if config.lora_rank else frozen_copy(model)
        return StepContext(reference=reference, noise=torch.Generator().manual_seed(config.seed))

    def retain_examples(self, splits: UnlearnSplits) -> list[Example]:
        """The retain set is retain ∪ sibling (design §8): the unlearner's halves of them (§10)."""
        return splits.unlearn_retain + splits.unlearn_sibling

    def unlearn(
        self, model, processor, splits: UnlearnSplits, config: LossConfig, on_epoch: EpochHook | None = None
    ):
        """`on_epoch(epoch, model)` after each epoch (a sweep reads the trajectory; with LoRA the model
        holds its adapters then)."""
        torch.manual_seed(config.seed)
        if config.lora_rank:
            model = add_lora(model, LoraSettings(rank=config.lora_rank, alpha=config.lora_alpha))
        context = self.context(model, config)
        if config.gradient_checkpointing:
            model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        encoder = Encoder(processor)
        pad = encoder.pad_id
        forget = [encoder.encode(e) for e in splits.forget]
        retain = [encoder.encode(e) for e in self.retain_examples(splits)] if self.uses_retain(config) else []
        # One generator: the retain order is drawn first, then each epoch's forget order.
        generator = torch.Generator().manual_seed(config.seed)
        retain_batches = (
            itertools.cycle(length_batches(retain, config.batch_size, generator)) if retain else None
        )

        def batches(epoch: int) -> Iterator[tuple[Batch, Batch | None]]:
            for indices in length_batches(forget, config.batch_size, generator):
                forget_batch = collate([forget[i] for i in indices], pad)
                retain_batch = collate([retain[i] for i in next(retain_batches)], pad) if retain else None
                yield forget_batch, retain_batch

        objective = Objective(
            batches,
            lambda m, pair: self.loss(m, *pair, config, context),
            math.ceil(len(forget) / config.batch_size),
        )
        hook = (lambda epoch: on_epoch(epoch, model)) if on_epoch is not None else None
        setup = LoopSetup(label=f"unlearning ({self.name})", on_epoch=hook)
        parameters = (
            [p for p in model.parameters() if p.requires_grad]  # the adapters
            if config.lora_rank
            else trainable_parameters(model, config.parameters)
        )
        fit(model, parameters, objective, config, setup)
        if config.lora_rank:
            model = model.merge_and_unload()  # a plain model again, as it came in
        if config.gradient_checkpointing:
            model.gradient_checkpointing_disable()
        return model
