"""Build a fresh target model for a dataset, and save/load model folders (safetensors only)."""

from __future__ import annotations

from pathlib import Path

import torch
from pydantic import BaseModel
from transformers import Qwen2_5_VLForConditionalGeneration

from medforget_data.constants import LEVEL_SPLITS, LEVELS, TRAIN_CONFIG, TRAIN_SPLITS
from medforget_data.dataset.load import read_split_items
from medforget_data.errors import MedForgetError
from medforget_data.models.configs import MODEL_SPECS, qwen_config
from medforget_data.models.processor import ImageQwen2_5_VLProcessor, make_processor
from medforget_data.models.tokenizer import train_tokenizer

MODEL_CARD_FILE = "medforget_model.json"


class ModelRecord(BaseModel):
    """What a model folder is: its config name, the data it saw, and how it was made."""

    config_name: str
    dataset_hash: str
    parameters: int
    recipe: dict = {}
    history: list[dict] = []


def corpus_texts(dataset_dir: Path) -> list[str]:
    """Every question and answer of the build (train, holdout and rephrasings) — the tokenizer's corpus."""
    texts = []
    for split in TRAIN_SPLITS:
        texts += [
            t
            for item in read_split_items(dataset_dir, TRAIN_CONFIG, split)
            for t in (item.question, item.answer)
        ]
    for split in LEVEL_SPLITS:
        if split.endswith("_rephrased"):
            texts += [item.question for item in read_split_items(dataset_dir, LEVELS[0], split)]
    return texts


def new_model(
    config_name: str, dataset_dir: Path, seed: int
) -> tuple[Qwen2_5_VLForConditionalGeneration, ImageQwen2_5_VLProcessor]:
    tokenizer = train_tokenizer(corpus_texts(dataset_dir), MODEL_SPECS[config_name].vocab_size)
    processor = make_processor(tokenizer)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(qwen_config(config_name, tokenizer))
    return model, processor


def save_model(model, processor, folder: Path, record: ModelRecord) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    (folder / MODEL_CARD_FILE).write_text(record.model_dump_json(indent=1) + "\n", encoding="utf-8")


def load_model(folder: Path, device: str = "cpu", dtype: torch.dtype | None = None):
    """(model, processor, record) from a model folder; only safetensors, never remote code."""
    folder = Path(folder)
    if not (folder / MODEL_CARD_FILE).is_file() or not (folder / "config.json").is_file():
        raise MedForgetError(
            f"{folder} is not a MedForget model folder ({MODEL_CARD_FILE} or config.json missing)"
        )
    try:
        record = ModelRecord.model_validate_json((folder / MODEL_CARD_FILE).read_text(encoding="utf-8"))
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(folder, use_safetensors=True, dtype=dtype)
        processor = ImageQwen2_5_VLProcessor.from_pretrained(folder)
    except Exception as error:  # truncated weights, invalid JSON, foreign config: one line, not a traceback
        first = (str(error).splitlines() or [""])[0][:160]
        raise MedForgetError(f"{folder}: damaged model folder ({type(error).__name__}: {first})") from None
    return model.to(device).eval(), processor, record
