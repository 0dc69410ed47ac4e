"""Model families: what differs between the vision-language architectures the benchmark runs.

A family knows how a question and an image become input ids (through the checkpoint's own
processor and chat template), which token ends an answer, and where its language layers, vision
tower and projector live. Batches, generation, LoRA, the methods' parameter scope and CHIP ask
the family; nothing else names an architecture's modules. The project's own `tiny`/`small`/`base`
models are Qwen2.5-VL and go through the same family as a Hub checkpoint.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from PIL import Image

from medforget_data.errors import MedForgetError

Part = Literal["language", "projector", "vision"]


class ModelFamily:
    """Base: the parts every family shares; subclasses set the names and override what differs."""

    model_type: str  # config.json's `model_type`
    vision_module: str  # the vision tower (frozen)
    projector_module: str  # vision → language projector / merger (frozen)
    projector_linears: tuple[str, ...]  # the projector's MLP layers, input side first (CHIP's targets)
    # whether the tokenizer's own special tokens (a BOS) start the prompt
    prompt_special_tokens: bool = False
    answer_prefix: str = ""  # between the generation prompt and the answer
    # The image inputs (`image_inputs`' keys) the model's `get_image_features` takes, when its output
    # for one image depends on that image alone, so it may be computed once per image and reused
    # (models/vision_cache.py, keyed by these tensors); empty: never cached.
    cached_image_inputs: tuple[str, ...] = ()

    # ----- model side
    def model_class(self) -> type[torch.nn.Module]:
        raise NotImplementedError

    def part(self, name: str) -> Part:
        """Which part a parameter or module belongs to; names may carry wrappers' prefixes (peft)."""
        dotted = f".{name}."
        if f".{self.projector_module}." in dotted:
            return "projector"
        if f".{self.vision_module}." in dotted:
            return "vision"
        return "language"

    def image_token_id(self, config) -> int:
        value = getattr(config, "image_token_id", None)
        return value if value is not None else config.image_token_index

    def projector_token_outputs(self, model, output: torch.Tensor, inputs: dict) -> list[torch.Tensor]:
        """A projector layer's output (CHIP's hook) split per image: [visual tokens, features] each."""
        raise NotImplementedError

    # ----- processor side
    def load_processor(self, folder: Path):
        raise NotImplementedError

    def owns_processor(self, processor) -> bool:
        raise NotImplementedError

    def finish_saved_processor(self, folder: Path) -> None:
        """Make a saved processor load with `AutoProcessor.from_pretrained` (nothing to do by default)."""

    def image_token(self, processor) -> str:
        return processor.image_token

    def image_inputs(self, processor, image: Image.Image) -> tuple[dict[str, torch.Tensor], int]:
        """(the model's image tensors, each with a leading dimension to concatenate over a batch;
        the number of image tokens the prompt's placeholder expands to)."""
        raise NotImplementedError

    def split_images(self, inputs: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        """A batch's image inputs (`cached_image_inputs` of them), one dict per image, each as
        `image_inputs` gives it: what collating concatenated, taken apart again."""
        raise NotImplementedError

    def end_text(self, tokenizer) -> str:
        """The token that ends an answer, as text appended to it for training."""
        raise NotImplementedError

    def end_token_ids(self, tokenizer) -> list[int]:
        """Tokens at which generation stops."""
        return [tokenizer.convert_tokens_to_ids(self.end_text(tokenizer))]


def _families() -> dict[str, ModelFamily]:
    from medforget_data.models.families.llava import LLaVA
    from medforget_data.models.families.qwen2_5_vl import Qwen2_5_VL

    return {family.model_type: family for family in (Qwen2_5_VL(), LLaVA())}


def supported_model_types() -> tuple[str, ...]:
    return tuple(sorted(_families()))


def family_for_type(model_type: str | None) -> ModelFamily:
    families = _families()
    if model_type not in families:
        raise MedForgetError(
            f"unsupported model_type {model_type!r}; supported: {', '.join(supported_model_types())}"
        )
    return families[model_type]


def family_of_model(model) -> ModelFamily:
    """The family of a model, through wrappers (DDP's `.module`, peft's forwarding `config`)."""
    return family_for_type(getattr(getattr(model, "module", model).config, "model_type", None))


def family_of_processor(processor) -> ModelFamily:
    for family in _families().values():
        if family.owns_processor(processor):
            return family
    raise MedForgetError(
        f"unsupported processor {type(processor).__name__}; supported model types: "
        f"{', '.join(supported_model_types())}"
    )


def family_of_folder(folder: Path) -> ModelFamily:
    """The family named by a checkpoint folder's config.json (read as JSON: no model is built)."""
    import json

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
