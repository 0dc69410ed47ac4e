"""KL: −NLL(forget) + α·KL(ref ‖ θ) on the retain set, the reference being the model before unlearning."""

from __future__ import annotations

from medforget_data.methods.grad_diff import GradDiff
from medforget_data.methods.losses import answer_logits, kl_to_reference
from medforget_data.methods.trainer import LossConfig, _device


class KLMinimisation(GradDiff):
    name = "kl"
    needs_reference = True

    def retain_loss(self, model, batch, config: LossConfig):
        return kl_to_reference(answer_logits(model, batch, _device(model)), self.reference_logits(batch))
