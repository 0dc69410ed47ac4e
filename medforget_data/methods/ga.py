"""GA (gradient ascent): minimise −NLL on the forget set; no retain term."""

from __future__ import annotations

from medforget_data.methods.losses import nll
from medforget_data.methods.trainer import LossConfig, LossMethod, _device


class GradAscent(LossMethod):
    name = "ga"
    uses_retain = False

    def forget_loss(self, model, batch, config: LossConfig):
        return -nll(model, batch, _device(model))
