"""Build a fresh target model for a dataset, and save/load model folders (safetensors only): the
project's own, or any Hugging Face checkpoint of a supported family (models/families/)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import torch
from pydantic import BaseModel
from transformers import Qwen2_5_VLForConditionalGeneration

from medforget_data.constants import LEVEL_SPLITS, LEVELS, TRAIN_CONFIG, TRAIN_SPLITS
from medforget_data.dataset.load import read_split_items
from medforget_data.errors import MedForgetError
from medforget_data.models.configs import MODEL_SPECS, qwen_config
from medforget_data.models.families import family_of_folder, family_of_model
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


def checkpoint_hash(folder: Path) -> str:
    """sha256 of a checkpoint's files (names and bytes; the project's own record and training
    checkpoints excluded): what a run's stages are keyed by when it starts from a checkpoint."""
    folder = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative == MODEL_CARD_FILE or relative.split("/")[0] in ("checkpoint", "checkpoint.tmp"):
            continue
        digest.update(relative.encode() + b"\0")
        with path.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    return digest.hexdigest()


def save_model(model, processor, folder: Path, record: ModelRecord) -> None:
    """Weights (safetensors), the processor as the family's tools load it, and the project's record."""
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder, safe_serialization=True)
    processor.save_pretrained(folder)
    family_of_model(model).finish_saved_processor(folder)
    (folder / MODEL_CARD_FILE).write_text(record.model_dump_json(indent=1) + "\n", encoding="utf-8")


def load_model(folder: Path, device: str = "cpu", dtype: torch.dtype = torch.float32):
    """(model, processor, record) from any folder `from_pretrained` reads for a supported family
    (safetensors only, never remote code), in `dtype` (bf16-stored weights are upcast for fp32).

    The record is the project's when the folder has one; a Hub checkpoint gets one naming it.
    """
    folder = Path(folder)
    family = family_of_folder(folder)
    model, info = family.model_class().from_pretrained(
        folder, use_safetensors=True, dtype=dtype, output_loading_info=True
    )
    missing = info.get("missing_keys") or []
    if missing:  # a mismatched checkpoint would otherwise run on randomly initialised weights
        raise MedForgetError(f"{folder}: {len(missing)} weights missing ({missing[0]}, …)")
    processor = family.load_processor(folder)
    card = folder / MODEL_CARD_FILE
    if card.is_file():
        record = ModelRecord.model_validate(json.loads(card.read_text(encoding="utf-8")))
    else:
        record = ModelRecord(
            config_name=folder.name,
            dataset_hash="",  # trained on no MedForget build yet: fine-tune it first
            parameters=sum(p.numel() for p in model.parameters()),
            recipe={"checkpoint": str(folder.resolve()), "model_type": family.model_type},
        )
    return model.to(device).eval(), processor, record
