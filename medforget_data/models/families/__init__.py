"""Model families: what differs between the vision-language architectures the benchmark runs.

A family knows how a question and an image become input ids (through the checkpoint's own
processor and chat template), which token ends an answer, and where its language layers, vision
tower and projector live. Batches, generation, LoRA, the methods' parameter scope and CHIP ask
the family; nothing else names an architecture's modules. The project's own `tiny`/`small`/`base`
models are Qwen2.5-VL and go through the same family as a Hub checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path

from medforget_data.errors import MedForgetError
from medforget_data.models.families.base import ModelFamily
from medforget_data.models.families.llava import LLaVA
from medforget_data.models.families.qwen2_5_vl import Qwen2_5_VL

__all__ = [
    "FAMILIES",
    "ModelFamily",
    "family_for_type",
    "family_of_folder",
    "family_of_model",
    "family_of_processor",
    "supported_model_types",
]

# model_type → family: the registry; a new family is a module deriving from `base.ModelFamily`
# and one entry here. Families hold no state, so one instance each serves every caller.
FAMILIES: dict[str, ModelFamily] = {family.model_type: family for family in (Qwen2_5_VL(), LLaVA())}


def supported_model_types() -> tuple[str, ...]:
    return tuple(sorted(FAMILIES))


def family_for_type(model_type: str | None) -> ModelFamily:
    if model_type not in FAMILIES:
        raise MedForgetError(
            f"unsupported model_type {model_type!r}; supported: {', '.join(supported_model_types())}"
        )
    return FAMILIES[model_type]


def family_of_model(model) -> ModelFamily:
    """The family of a model, through wrappers (DDP's `.module`, peft's forwarding `config`)."""
    return family_for_type(getattr(getattr(model, "module", model).config, "model_type", None))


def family_of_processor(processor) -> ModelFamily:
    for family in FAMILIES.values():
        if family.owns_processor(processor):
            return family
    raise MedForgetError(
        f"unsupported processor {type(processor).__name__}; supported model types: "
        f"{', '.join(supported_model_types())}"
    )


def family_of_folder(folder: Path) -> ModelFamily:
    """The family named by a checkpoint folder's config.json (read as JSON: no model is built)."""
    config = Path(folder) / "config.json"
    if not config.is_file():
        raise MedForgetError(f"{folder} is not a model folder (config.json missing)")
    try:
        data = json.loads(config.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        first = (str(error).splitlines() or [""])[0][:160]
        raise MedForgetError(f"{folder}: damaged model folder (config.json: {first})") from None
    if not isinstance(data, dict):
        raise MedForgetError(f"{folder}: damaged model folder (config.json is not a JSON object)")
    return family_for_type(data.get("model_type"))
