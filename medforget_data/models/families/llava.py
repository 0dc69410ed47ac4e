"""LLaVA (LLaVA-1.5 as `llava-hf/llava-1.5-7b-hf` stores it: CLIP tower, 2-layer MLP projector, Llama).

Prompt: the checkpoint's chat template ("USER: <image>\\n… ASSISTANT:") after the tokenizer's BOS,
`<image>` expanded to one token per visual feature as LlavaProcessor does; answers follow a space
and end with the tokenizer's EOS (`</s>`). The vision tower is `model.vision_tower`, the projector
`model.multi_modal_projector` (`linear_1` → `linear_2`).
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from medforget_data.models.families.base import ModelFamily


class LLaVA(ModelFamily):
    model_type = "llava"
    vision_module = "model.vision_tower"
    projector_module = "model.multi_modal_projector"
    projector_linears = ("linear_1", "linear_2")
    prompt_special_tokens = True
    answer_prefix = " "
    # cached_image_inputs stays empty: its `get_image_features` returns [images, tokens, features]
    # from a chosen tower layer, not per-image pooled outputs, so the vision cache leaves it alone

    def model_class(self):
        from transformers import LlavaForConditionalGeneration

        return LlavaForConditionalGeneration

    def projector_token_outputs(self, model, output: torch.Tensor, inputs: dict) -> list[torch.Tensor]:
        return list(output)  # [images, tokens, features]: one row per image already

    def load_processor(self, folder: Path):
        from transformers import LlavaProcessor

        return LlavaProcessor.from_pretrained(folder)

    def owns_processor(self, processor) -> bool:
        from transformers import LlavaProcessor

        return isinstance(processor, LlavaProcessor)

    def image_inputs(self, processor, image: Image.Image) -> tuple[dict[str, torch.Tensor], int]:
        # The processor itself expands one placeholder: its count of image tokens is the model's.
        out = processor(images=[image], text=[processor.image_token], return_tensors="pt")
        tokens = int((out["input_ids"] == processor.image_token_id).sum())
        return {"pixel_values": out["pixel_values"]}, tokens

    def end_text(self, tokenizer) -> str:
        return tokenizer.eos_token
