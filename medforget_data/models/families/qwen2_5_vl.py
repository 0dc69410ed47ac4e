"""Qwen2.5-VL (Qwen2.5-VL-3B/7B-Instruct, Lingshu, and the project's own tiny/small/base models).

Prompt: the checkpoint's chat template with one `<|image_pad|>` per merged 2×2 patch group;
answers end with `<|im_end|>`. The vision tower is `model.visual`, its merger (the projector)
`model.visual.merger` with MLP `mlp.0` → `mlp.2`.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from PIL import Image

from medforget_data.models.families.base import ModelFamily

END_OF_TURN = "<|im_end|>"
PROCESSOR_CLASS = "Qwen2_5_VLProcessor"
# what the video processor shares with the image processor
VIDEO_KEYS = ("patch_size", "temporal_patch_size", "merge_size", "image_mean", "image_std", "size")


class Qwen2_5_VL(ModelFamily):  # noqa: N801 (the architecture's name)
    model_type = "qwen2_5_vl"
    vision_module = "model.visual"
    projector_module = "model.visual.merger"
    projector_linears = ("mlp.0", "mlp.2")
    # the tower sees each image's patch rows on their own (attention windows never span two images)
    cached_image_inputs = ("pixel_values", "image_grid_thw")

    def model_class(self):
        from transformers import Qwen2_5_VLForConditionalGeneration

        return Qwen2_5_VLForConditionalGeneration

    def projector_token_outputs(self, model, output: torch.Tensor, inputs: dict) -> list[torch.Tensor]:
        # the merger sees every image of the batch as one [merged tokens, features] matrix
        merge = model.config.vision_config.spatial_merge_size**2
        return list(torch.split(output, (inputs["image_grid_thw"].prod(-1) // merge).tolist()))

    def load_processor(self, folder: Path):
        # transformers' own Qwen2_5_VLProcessor needs torchvision for its video half; the benchmark has
        # no video, and this subclass reads the same files (models/processor.py)
        from medforget_data.models.processor import ImageQwen2_5_VLProcessor

        return ImageQwen2_5_VLProcessor.from_pretrained(folder)

    def owns_processor(self, processor) -> bool:
        from transformers import Qwen2_5_VLProcessor

        return isinstance(processor, Qwen2_5_VLProcessor)

    def finish_saved_processor(self, folder: Path) -> None:
        from medforget_data.models.processor import ImageQwen2_5_VLProcessor

        # Saved as transformers' own class (not the torchvision-free subclass, which only this project
        # has), with the video processor config Qwen2_5_VLProcessor expects beside it: AutoProcessor,
        # vLLM and lmms-eval then load the folder as they load the Hub's.
        for name in ("processor_config.json", "preprocessor_config.json", "tokenizer_config.json"):
            path = folder / name
            if path.is_file():
                data = json.loads(path.read_text(encoding="utf-8"))
                if data.get("processor_class") == ImageQwen2_5_VLProcessor.__name__:
                    data["processor_class"] = PROCESSOR_CLASS
                    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        image = ImageQwen2_5_VLProcessor.from_pretrained(folder).image_processor.to_dict()
        video = {key: image[key] for key in VIDEO_KEYS if key in image}
        video.update(video_processor_type="Qwen2VLVideoProcessor", processor_class=PROCESSOR_CLASS)
        path = folder / "video_preprocessor_config.json"
        path.write_text(json.dumps(video, indent=2) + "\n", encoding="utf-8")

    def image_inputs(self, processor, image: Image.Image) -> tuple[dict[str, torch.Tensor], int]:
        out = processor.image_processor(images=[image], return_tensors="pt")
        grid = out["image_grid_thw"]  # [1, 3]
        tokens = int(grid[0].prod()) // processor.image_processor.merge_size**2
        return {"pixel_values": out["pixel_values"], "image_grid_thw": grid}, tokens

    def split_images(self, inputs: dict[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        grid = inputs["image_grid_thw"]  # [images, 3]; each image has t·h·w patch rows
        rows = torch.split(inputs["pixel_values"], grid.prod(-1).tolist())
        return [{"pixel_values": r, "image_grid_thw": grid[i : i + 1]} for i, r in enumerate(rows)]

    def end_text(self, tokenizer) -> str:
        return END_OF_TURN
