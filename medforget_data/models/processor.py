"""The processor: transformers' Qwen2.5-VL processor with pixel limits for a few dozen visual tokens.

Qwen2.5-VL's processor also carries a video processor, whose transformers implementation needs
torchvision (which does not import beside the CPU torch build here). The benchmark has no video,
so `ImageQwen2_5_VLProcessor` is the same processor without its video half: same chat template,
same image-token expansion, loadable offline with `from_pretrained` and no remote code.
"""

from __future__ import annotations

from transformers import PreTrainedTokenizerFast, Qwen2_5_VLProcessor
from transformers.processing_utils import ProcessorMixin

from medforget_data.models.configs import IMAGE_SIDE
from medforget_data.models.tokenizer import CHAT_TEMPLATE, IMAGE_PAD, VIDEO_PAD

try:  # transformers ≥ 5.2x names the torchvision-free implementation explicitly
    from transformers import Qwen2VLImageProcessorPil as _ImageProcessor
except ImportError:  # older releases: the slow processor is the PIL one
    from transformers import Qwen2VLImageProcessor as _ImageProcessor


class ImageQwen2_5_VLProcessor(Qwen2_5_VLProcessor):  # noqa: N801 (transformers' naming)
    def __init__(self, image_processor=None, tokenizer=None, chat_template=None, **kwargs) -> None:
        self.image_token, self.video_token = IMAGE_PAD, VIDEO_PAD
        self.image_token_id = tokenizer.convert_tokens_to_ids(IMAGE_PAD)
        self.video_token_id = tokenizer.convert_tokens_to_ids(VIDEO_PAD)
        ProcessorMixin.__init__(self, image_processor, tokenizer, chat_template=chat_template)


def make_processor(
    tokenizer: PreTrainedTokenizerFast, image_side: int = IMAGE_SIDE
) -> ImageQwen2_5_VLProcessor:
    pixels = image_side * image_side
    image_processor = _ImageProcessor(
        min_pixels=pixels, max_pixels=pixels, patch_size=14, merge_size=2, temporal_patch_size=2
    )
    return ImageQwen2_5_VLProcessor(
        image_processor=image_processor, tokenizer=tokenizer, chat_template=CHAT_TEMPLATE
    )
