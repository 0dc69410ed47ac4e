"""Forget-MI (Hardan et al., 2025) adapted to a generative MLLM.

Embeddings of a sample, read from one forward pass:
  image — mean of the language model's input embeddings at the image positions (the merger's output),
  text  — mean of the input embeddings at the text positions,
  joint — mean of the last hidden state over all positions.
Forget samples' embeddings are pulled toward those of noise-perturbed copies (Gaussian noise on the
pixels) under the frozen model; retain embeddings are kept at the frozen model's. Terms are
weighted 1 (forget unimodal), 1 (forget joint), 2 (retain unimodal), 2 (retain joint), normalised.
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F
from pydantic import Field

from medforget_data.methods.base import MethodConfig
from medforget_data.methods.trainer import LossConfig, LossMethod, StepContext
from medforget_data.models.batches import device_of, model_inputs
from medforget_data.models.families import family_of_model
from medforget_data.models.vision_cache import disabled as vision_cache_disabled

WEIGHTS = (1.0, 1.0, 2.0, 2.0)  # forget unimodal, forget joint, retain unimodal, retain joint


class ForgetMIConfig(LossConfig):
    noise_std: float = Field(default=1.0, ge=0)  # in the processor's normalised pixel units


def _masked_mean(states: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    weights = mask.unsqueeze(-1).to(states.dtype)
    return (states * weights).sum(1) / weights.sum(1).clamp(min=1)


def embeddings(model, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(image, text, joint) embeddings, each [batch, hidden]."""
    device = device_of(model)
    inputs = model_inputs(batch, device)
    # embeddings only: one vocabulary row is computed instead of one per position
    hidden = model(**inputs, output_hidden_states=True, logits_to_keep=1).hidden_states
    present = inputs["attention_mask"].bool()
    is_image = inputs["input_ids"] == family_of_model(model).image_token_id(model.config)
    return (
        _masked_mean(hidden[0], is_image),
        _masked_mean(hidden[0], present & ~is_image),
        _masked_mean(hidden[-1], present),
    )


def noisy_copy(
    batch: dict[str, torch.Tensor], std: float, generator: torch.Generator
) -> dict[str, torch.Tensor]:
    noise = torch.randn(batch["pixel_values"].shape, generator=generator) * std
    return {**batch, "pixel_values": batch["pixel_values"] + noise.to(batch["pixel_values"].dtype)}


class ForgetMI(LossMethod):
    config_class: ClassVar[type[MethodConfig]] = ForgetMIConfig

    def needs_reference(self, config: ForgetMIConfig) -> bool:
        return True

    def loss(self, model, forget_batch, retain_batch, config: ForgetMIConfig, context: StepContext):
        with torch.no_grad():
            # fresh noise every step: never cached (the reference may share the trained model's
            # cached tower, as the adapter-disabled model does)
            with vision_cache_disabled():
                target_image, target_text, target_joint = embeddings(
                    context.reference, noisy_copy(forget_batch, config.noise_std, context.noise)
                )
            keep_image, keep_text, keep_joint = embeddings(context.reference, retain_batch)
        image, text, joint = embeddings(model, forget_batch)
        terms = (
            F.mse_loss(image, target_image) + F.mse_loss(text, target_text),
            F.mse_loss(joint, target_joint),
        )
        image, text, joint = embeddings(model, retain_batch)
        terms += (F.mse_loss(image, keep_image) + F.mse_loss(text, keep_text), F.mse_loss(joint, keep_joint))
        return sum(w * t for w, t in zip(WEIGHTS, terms, strict=True)) / sum(WEIGHTS)
