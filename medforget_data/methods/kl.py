"""KL: −NLL(forget) + α·KL(ref ‖ θ) on the retain set, the reference being the model before unlearning."""

from __future__ import annotations

from medforget_data.methods.grad_diff import GradDiff
from medforget_data.methods.losses import kl_to_reference
from medforget_data.methods.trainer import LossConfig, _device
from medforget_data.models.batches import model_inputs


class KLMinimisation(GradDiff):
    name = "kl"
    needs_reference = True

    def retain_loss(self, model, batch, config: LossConfig):
        logits = model(**model_inputs(batch, _device(model))).logits
        return kl_to_reference(logits, self.reference_logits(batch), batch["labels"].to(logits.device))
