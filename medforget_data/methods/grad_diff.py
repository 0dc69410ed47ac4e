"""GradDiff: −NLL(forget) + α·retain term, the retain term a config value as in OpenUnlearning.

Registered three times (methods/__init__.py): `ga` (retain_loss none: gradient ascent alone),
`graddiff` (nll on retain ∪ sibling) and `kl` (KL(ref ‖ θ) on retain ∪ sibling, the reference
being the model before unlearning).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from medforget_data.methods.base import MethodConfig
from medforget_data.methods.losses import kl_to_reference
from medforget_data.methods.trainer import (
    Batch,
    LossConfig,
    LossMethod,
    StepContext,
    reference_logits,
)
from medforget_data.models.batches import device_of
from medforget_data.models.losses import answer_logits, answer_loss

RetainLoss = Literal["nll", "kl", "none"]


class GradDiffConfig(LossConfig):
    alpha: float = Field(default=1.0, ge=0)  # weight of the retain term
    retain_loss: RetainLoss = "nll"


class GradDiff(LossMethod):
    config_class: ClassVar[type[MethodConfig]] = GradDiffConfig

    def uses_retain(self, config: GradDiffConfig) -> bool:
        return config.retain_loss != "none"

    def needs_reference(self, config: GradDiffConfig) -> bool:
        return config.retain_loss == "kl"

    def forget_loss(self, model, batch: Batch, config: GradDiffConfig, context: StepContext | None = None):
        return -answer_loss(model, batch, device_of(model))

    def retain_loss(self, model, batch: Batch, config: GradDiffConfig, context: StepContext | None = None):
        if config.retain_loss == "kl":
            current = answer_logits(model, batch, device_of(model))
            return kl_to_reference(current, reference_logits(context, batch))
        return answer_loss(model, batch, device_of(model))

    def loss(self, model, forget_batch, retain_batch, config: GradDiffConfig, context=None):
        total = self.forget_loss(model, forget_batch, config, context)
        if self.uses_retain(config) and retain_batch is not None:
            total = total + config.alpha * self.retain_loss(model, retain_batch, config, context)
        return total
