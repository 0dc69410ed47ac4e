"""NPO (Zhang et al., 2024): −(2/β)·E log σ(−β·(log πθ − log πref)) on forget + α·retain term."""

from __future__ import annotations

from typing import ClassVar

import torch.nn.functional as F
from pydantic import Field

from medforget_data.methods.base import MethodConfig
from medforget_data.methods.grad_diff import GradDiff, GradDiffConfig
from medforget_data.methods.losses import sequence_logprobs
from medforget_data.methods.trainer import StepContext, reference_logits
from medforget_data.models.batches import device_of
from medforget_data.models.losses import answer_logits


class NPOConfig(GradDiffConfig):
    beta: float = Field(default=0.1, gt=0)  # published default


class NPO(GradDiff):
    config_class: ClassVar[type[MethodConfig]] = NPOConfig

    def needs_reference(self, config: NPOConfig) -> bool:
        return True

    def forget_loss(self, model, batch, config: NPOConfig, context: StepContext | None = None):
        logp = sequence_logprobs(answer_logits(model, batch, device_of(model)))
        logp_ref = sequence_logprobs(reference_logits(context, batch))
        return -(2.0 / config.beta) * F.logsigmoid(-config.beta * (logp - logp_ref)).mean()
