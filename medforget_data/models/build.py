"""Build a fresh target model for a dataset, and save/load model folders (safetensors only)."""

from __future__ import annotations

from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict
from transformers import Qwen2_5_VLForConditionalGeneration

from medforget_data.constants import LEVEL_SPLITS, LEVELS, TRAIN_CONFIG, TRAIN_SPLITS, Level
from medforget_data.dataset.load import read_split_items
from medforget_data.errors import MedForgetError
from medforget_data.io import read_model, write_model
from medforget_data.models.configs import MODEL_SPECS, qwen_config
from medforget_data.models.processor import ImageQwen2_5_VLProcessor, make_processor
from medforget_data.models.tokenizer import train_tokenizer
from medforget_data.models.train import TrainConfig

MODEL_CARD_FILE = "medforget_model.json"
MODEL_RECORD_SCHEMA_VERSION = 1


class UnlearnRecipe(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str
    level: Level


class Recipe(BaseModel):
    """How a model was made; the fields that did not apply are None."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: str | None = None  # "vanilla" or "oracle" for a fine-tuned model
    oracle_level: Level | None = None
    train_items: int | None = None
    lora_rank: int | None = None
    train: TrainConfig | None = None
    vision_pretrain_study_accuracy: float | None = None
    wall_seconds: float | None = None  # of fine-tuning (vision pretraining included)
    torch_threads: int | None = None
    processes: int | None = None  # data-parallel processes (scripts/accelerate_finetune.py)
    unlearn: UnlearnRecipe | None = None  # set on a model an unlearning method produced
    unlearn_chain: tuple[UnlearnRecipe, ...] = ()  # every unlearning step, in order (the last is `unlearn`)


class ModelRecord(BaseModel):
    """What a model folder is: its config name, the data it saw, and how it was made."""

    schema_version: int = MODEL_RECORD_SCHEMA_VERSION
    config_name: str
    dataset_hash: str
    parameters: int
    recipe: Recipe = Recipe()
    history: list[dict[str, int | float]] = []  # per epoch: epoch, loss, seconds


def corpus_texts(dataset_dir: Path) -> list[str]:
    """Every wording and answer of the build (train, holdout and rephrasings) — the tokenizer's corpus."""
    texts = []
    for split in TRAIN_SPLITS:
        texts += [
            t
            for item in read_split_items(dataset_dir, TRAIN_CONFIG, split)
            for t in (item.question, *item.train_questions[1:], item.answer)
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
    write_model(folder / MODEL_CARD_FILE, record)


def load_model(folder: Path, device: str = "cpu", dtype: torch.dtype | None = None):
    """(model, processor, record) from a model folder; only safetensors, never remote code."""
    folder = Path(folder)
    if not (folder / MODEL_CARD_FILE).is_file() or not (folder / "config.json").is_file():
        raise MedForgetError(
            f"{folder} is not a MedForget model folder ({MODEL_CARD_FILE} or config.json missing)"
        )
    record = read_model(folder / MODEL_CARD_FILE, ModelRecord, "MedForget model record")
    try:
        model = Qwen2_5_VLForConditionalGeneration.from_pretrained(folder, use_safetensors=True, dtype=dtype)
        processor = ImageQwen2_5_VLProcessor.from_pretrained(folder)
    except Exception as error:  # truncated weights, invalid JSON, foreign config: one line, not a traceback
        first = (str(error).splitlines() or [""])[0][:160]
        raise MedForgetError(f"{folder}: damaged model folder ({type(error).__name__}: {first})") from None
    return model.to(device).eval(), processor, record
