"""Examples: dataset items with their decoded study image, read straight from the parquet (what models
train and answer on)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from medforget_data.dataset.load import read_split
from medforget_data.dataset.schema import QAItem


@dataclass(frozen=True)
class Example:
    item: QAItem
    image: Image.Image  # RGB, shared by every item of the same study


def read_examples(dataset_dir: Path, config: str, split: str) -> list[Example]:
    """Items of one split with decoded images (one decode per study)."""
    images: dict[str, Image.Image] = {}
    examples = []
    for item, encoded in read_split(dataset_dir, config, split, images=True):
        if item.study_id not in images:
            images[item.study_id] = Image.open(io.BytesIO(encoded)).convert("RGB")
        examples.append(Example(item, images[item.study_id]))
    return examples
