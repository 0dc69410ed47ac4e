"""Examples: dataset items with their decoded study image, read straight from the parquet (what models
train and answer on)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from medforget_data.dataset.load import read_split
from medforget_data.dataset.manifest import read_manifest
from medforget_data.dataset.schema import QAItem
from medforget_data.errors import MedForgetError

IMAGE_FORMAT, IMAGE_MODE = "PNG", "L"  # what every build writes: one grayscale PNG per study


@dataclass(frozen=True)
class Example:
    item: QAItem
    image: Image.Image  # RGB, shared by every item of the same study


def decode_study_image(encoded: bytes | None, image_size: int) -> Image.Image:
    """A study image as a build writes it (PNG, grayscale, `image_size` square), decoded in full.

    Anything else raises a MedForgetError saying what is wrong, for the caller to name the item: a
    model given another size or mode fails deep inside its processor, not here.
    """
    if not encoded:
        raise MedForgetError("image is missing (null or empty)")
    try:
        image = Image.open(io.BytesIO(encoded))
        if image.format != IMAGE_FORMAT:
            raise MedForgetError(f"image is {image.format}, not {IMAGE_FORMAT}")
        if image.size != (image_size, image_size):
            width, height = image.size  # checked before decoding: a huge image is refused unread
            raise MedForgetError(f"image is {width}×{height}, the build's size is {image_size}×{image_size}")
        if image.mode != IMAGE_MODE:
            raise MedForgetError(f"image mode is {image.mode}, not {IMAGE_MODE} (grayscale)")
        image.load()  # the whole stream: a truncated file fails here, not in a training step
    # PIL's decoders raise these for bytes that are not (or no longer) an image
    except (OSError, ValueError, SyntaxError, EOFError, Image.DecompressionBombError) as error:
        first = (str(error).splitlines() or [type(error).__name__])[0][:120]
        raise MedForgetError(f"image does not decode ({first})") from None
    return image


def read_examples(dataset_dir: Path, config: str, split: str, image_size: int | None = None) -> list[Example]:
    """Items of one split with decoded images (one decode per study); a damaged image is one line naming
    its item. `image_size` is the build's (read from the manifest when not given)."""
    if image_size is None:
        image_size = read_manifest(dataset_dir).build.image_size
    encoded_of: dict[str, bytes | None] = {}
    images: dict[str, Image.Image] = {}
    examples = []
    for item, encoded in read_split(dataset_dir, config, split, images=True):
        where = f"{dataset_dir}: {config}/{split} item {item.id}"
        if item.study_id not in images:
            try:
                images[item.study_id] = decode_study_image(encoded, image_size).convert("RGB")
            except MedForgetError as error:
                raise MedForgetError(f"{where}: {error}; rebuild the folder") from None
            encoded_of[item.study_id] = encoded
        elif encoded != encoded_of[item.study_id]:  # one image per study: which one would it train on?
            raise MedForgetError(f"{where}: its image differs from the other rows of study {item.study_id}")
        examples.append(Example(item, images[item.study_id]))
    return examples
