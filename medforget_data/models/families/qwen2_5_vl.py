"""Qwen2.5-VL (Qwen2.5-VL-3B/7B-Instruct, Lingshu, and the project's own tiny/small/base models).

Prompt: the checkpoint's chat template with one `<|image_pad|>` per merged 2×2 patch group;
answers end with `<|im_end|>`. The vision tower is `model.visual`, its merger (the projector)
`model.visual.merger` with MLP `mlp.0` → `mlp.2`.
"""

from __future__ import annotations

from pathlib import Path

import torch
from PIL import Image

from medforget_data.models.families import ModelFamily

END_OF_TURN = "<|im_end|>"


class Qwen2_5_VL(ModelFamily):  # noqa: N801 (the architecture's name)
    model_type = "qwen2_5_vl"
    vision_module = "model.visual"
    projector_module = "model.visual.merger"
    projector_linears = ("mlp.0", "mlp.2")

    def model_class(self):
        from transformers import Qwen2_5_VLForConditionalGeneration

        return Qwen2_5_VLForConditionalGeneration

    def projector_token_outputs(self, model, output: torch.Tensor, inputs: dict) -> list[torch.Tensor]:
        # the merger sees every image of the batch as one [merged tokens, features] matrix
        merge = model.config.vision_config.spatial_merge_size ** 2
        return list(torch.split(output, (inputs["image_grid_thw"].prod(-1) // merge).tolist()))

    def load_processor(self, folder: Path):
        # transformers' own Qwen2_5_VLProcessor needs torchvision for its video half; the benchmark has
        # no video, and this subclass reads the same files (models/processor.py)
        from medforget_data.models.processor import ImageQwen2_5_VLProcessor

        return ImageQwen2_5_VLProcessor.from_pretrained(folder)

    def owns_processor(self, processor) -> bool:
        from transformers import Qwen2_5_VLProcessor

        return isinstance(processor, Qwen2_5_VLProcessor)

    def image_inputs(self, processor, image: Image.Image) -> tuple[dict[str, torch.Tensor], int]:
        out = processor.image_processor(images=[image], return_tensors="pt")
        grid = out["image_grid_thw"]  # [1, 3]
        tokens = int(grid[0].prod()) // processor.image_processor.merge_size**2
        return {"pixel_values": out["pixel_values"], "image_grid_thw": grid}, tokens

    def end_text(self, tokenizer) -> str:
        return END_OF_TURN
