"""LoRA on the language model: the settings, the layers it adapts, and wrapping a model with it.

Fine-tuning a checkpoint (models/finetune.py) and the loss-based methods' adapters (methods/trainer.py)
both come here, so the published recipe's numbers (r 16, α 16) are written once.
"""

from __future__ import annotations

import torch
from pydantic import BaseModel, ConfigDict, Field

from medforget_data.models.families import family_of_model

LORA_TARGETS: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class LoraSettings(BaseModel):
    """Adapters on the language model's attention and MLP projections."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rank: int = Field(ge=1)
    alpha: int = Field(ge=1)
    targets: tuple[str, ...] = LORA_TARGETS  # projection names; matched on language layers only


# The published MedForget recipe for a checkpoint (Lingshu-7B): r 16, α 16.
PUBLISHED_LORA = LoraSettings(rank=16, alpha=16)


def lora_target_modules(model, targets: tuple[str, ...] = LORA_TARGETS) -> list[str]:
    """Full names of the language model's projections: a bare suffix would also match the vision
    tower's `mlp.{gate,up,down}_proj` (Qwen2.5-VL), which must stay frozen."""
    family = family_of_model(model)
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
        and name.rsplit(".", 1)[-1] in targets
        and family.part(name) == "language"
    ]


def add_lora(model, settings: LoraSettings):
    """`model` wrapped by peft with fresh adapters (zero-initialised B: the output is unchanged)."""
    from peft import LoraConfig, get_peft_model  # peft is imported only where adapters are used

    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=0.0,
        target_modules=lora_target_modules(model, settings.targets),
    )
    return get_peft_model(model, config)
