"""NPO (Zhang et al., 2024): −(2/β)·E log σ(−β·(log πθ − log πref)) on forget + α·retain NLL."""

from __future__ import annotations

import torch.nn.functional as F
from pydantic import Field

from medforget_data.methods.grad_diff import GradDiff
from medforget_data.methods.losses import answer_logits, sequence_logprobs
from medforget_data.methods.trainer import LossConfig, _device


class NPOConfig(LossConfig):
    beta: float = Field(default=0.1, gt=0) # published default


class NPO(GradDiff):
    name = "npo"
    config_class = NPOConfig
    needs_reference = True

    def forget_loss(self, model, batch, config: NPOConfig):
        logp = sequence_logprobs(answer_logits(model, batch, _device(model)))
        logp_ref = sequence_logprobs(self.reference_logits(batch))
        return -(2.0 / config.beta) * F.logsigmoid(-config.beta * (logp - logp_ref)).mean()
