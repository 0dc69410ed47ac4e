"""The base every model family derives from: what all families share, and what each must supply.

Kept apart from the package's registry (`families/__init__.py`), which imports every family: a
family module imports this one, never the registry, so the two import one way only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from PIL import Image

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
