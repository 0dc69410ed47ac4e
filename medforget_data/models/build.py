"""Build a fresh target model for a dataset, and save/load model folders (safetensors only): the
project's own, or any Hugging Face checkpoint of a supported family (models/families/)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict
from transformers import Qwen2_5_VLForConditionalGeneration

from medforget_data.constants import CHECKPOINT_DIR, TRAIN_CONFIG, TRAIN_SPLITS, Level
from medforget_data.dataset.built import BuiltDataset
from medforget_data.errors import MedForgetError
from medforget_data.io import os_errors_named, plain_file_mode, read_model, sha256_file, write_model
from medforget_data.models.configs import MODEL_SPECS, qwen_config
from medforget_data.models.families import family_of_folder, family_of_model
from medforget_data.models.processor import ImageQwen2_5_VLProcessor, make_processor
from medforget_data.models.recipe import FinetuneRecipe
from medforget_data.models.tokenizer import train_tokenizer

MODEL_CARD_FILE = "medforget_model.json"
MODEL_RECORD_SCHEMA_VERSION = 1


class UnlearnRecipe(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    method: str
    level: Level


class BaseCheckpoint(BaseModel):
    """What the checkpoint a model was fine-tuned from was (its folder and content hash are in the
    recipe, `Recipe.finetune`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    model_type: str  # config.json's, the family
    record: dict | None = None  # the checkpoint's own MedForget record, when it had one


class Recipe(BaseModel):
    """How a model was made; the fields that did not apply are None."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: str | None = None  # "vanilla" or "oracle" for a fine-tuned model
    oracle_level: Level | None = None
    train_items: int | None = None
    finetune: FinetuneRecipe | None = None  # every number of the fine-tuning (models/recipe.py)
    base_model: BaseCheckpoint | None = None  # fine-tuned from a checkpoint
    # a checkpoint folder read as it is (no MedForget record): where it is and its family
    checkpoint: str | None = None
    model_type: str | None = None
    vision_pretrain_study_accuracy: float | None = None
    wall_seconds: float | None = None  # of fine-tuning (vision pretraining included)
    torch_threads: int | None = None
    processes: int | None = None  # data-parallel processes (models/distributed.py)
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


def corpus_texts(dataset: BuiltDataset | Path) -> list[str]:
    """Every wording and answer of the build (train, holdout and rephrasings) — the tokenizer's corpus."""
    dataset = BuiltDataset.of(dataset)
    texts = []
    for split in TRAIN_SPLITS:
        texts += [
            t
            for item in dataset.items(TRAIN_CONFIG, split)
            for t in (item.question, *item.train_questions[1:], item.answer)
        ]
    texts += [item.question for item in dataset.rephrased_items()]
    return texts


def new_model(
    config_name: str, dataset: BuiltDataset | Path, seed: int
) -> tuple[Qwen2_5_VLForConditionalGeneration, ImageQwen2_5_VLProcessor]:
    tokenizer = train_tokenizer(corpus_texts(dataset), MODEL_SPECS[config_name].vocab_size)
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
        if relative == MODEL_CARD_FILE or relative.split("/")[0] == CHECKPOINT_DIR:
            continue
        digest.update(f"{relative}\0{sha256_file(path)}\n".encode())
    return digest.hexdigest()


def save_model(model, processor, folder: Path, record: ModelRecord) -> None:
    """Weights (safetensors), the processor as the family's tools load it, and the project's record."""
    folder.mkdir(parents=True, exist_ok=True)
    with os_errors_named(folder):  # a full disk: one line naming the folder, not safetensors' error
        model.save_pretrained(folder, safe_serialization=True)
        processor.save_pretrained(folder)
    family_of_model(model).finish_saved_processor(folder)
    for weights in folder.glob("*.safetensors"):  # safetensors writes them 0600
        plain_file_mode(weights)
    write_model(folder / MODEL_CARD_FILE, record)


@contextmanager
def library_quiet() -> Iterator[None]:
    """transformers' warnings and bars off, restored after. Loading a mismatched checkpoint prints its
    whole load report (~70 lines) and a bar; `load_model` reports what matters (missing weights, a
    damaged folder) in one line, and an error must be the only line on stderr."""
    from transformers.utils import logging as library_logging

    verbosity, bars = library_logging.get_verbosity(), library_logging.is_progress_bar_enabled()
    library_logging.set_verbosity_error()
    library_logging.disable_progress_bar()
    try:
        yield
    finally:
        library_logging.set_verbosity(verbosity)
        if bars:
            library_logging.enable_progress_bar()


def check_processor(folder: Path, processor) -> None:
    """Refuse, in one line naming the folder, a processor that loads but cannot encode a prompt.

    Loading succeeds on folders it cannot serve: without tokenizer.json and tokenizer_config.json
    the tokenizer comes out empty (generation then fails deep inside transformers), and a broken chat
    template fails only when rendered. One prompt built here as training and generation build theirs.
    """
    from medforget_data.models.batches import Encoder

    try:
        encoder = Encoder(processor)
        ids = encoder.tokenizer(encoder.prompt("What does the image show?", 1), add_special_tokens=False)
        ends = encoder.family.end_token_ids(encoder.tokenizer)
    except MedForgetError:
        raise
    except Exception as error:  # jinja's UndefinedError, TemplateSyntaxError, a tokenizer's own errors
        first = (str(error).splitlines() or [""])[0][:160]
        raise MedForgetError(
            f"{folder}: its processor cannot build a prompt ({type(error).__name__}: {first})"
        ) from None
    if not ids["input_ids"] or None in ends:
        raise MedForgetError(
            f"{folder}: its tokenizer is empty or lacks the end-of-answer token "
            "(tokenizer.json or tokenizer_config.json missing or damaged?)"
        )


def read_model_record(folder: Path) -> ModelRecord:
    """A project model folder's record alone (its weights are not read)."""
    return read_model(Path(folder) / MODEL_CARD_FILE, ModelRecord, "MedForget model record")


def load_model(folder: Path, device: str = "cpu", dtype: torch.dtype = torch.float32):
    """(model, processor, record) from any folder `from_pretrained` reads for a supported family
    (safetensors only, never remote code), in `dtype` (bf16-stored weights are upcast for fp32).

    The record is the project's when the folder has one; a Hub checkpoint gets one naming it.
    """
    folder = Path(folder)
    family = family_of_folder(folder)  # an unsupported type: one line naming the supported ones
    record = read_model_record(folder) if (folder / MODEL_CARD_FILE).is_file() else None
    try:
        with library_quiet():
            model, info = family.model_class().from_pretrained(
                folder, use_safetensors=True, dtype=dtype, output_loading_info=True
            )
            processor = family.load_processor(folder)
    except Exception as error:  # truncated weights, invalid JSON, foreign config: one line, not a traceback
        first = (str(error).splitlines() or [""])[0][:160]
        raise MedForgetError(f"{folder}: damaged model folder ({type(error).__name__}: {first})") from None
    check_processor(folder, processor)
    missing = info.get("missing_keys") or []
    if missing:  # a mismatched checkpoint would otherwise run on randomly initialised weights
        raise MedForgetError(f"{folder}: {len(missing)} weights missing ({sorted(missing)[0]}, …)")
    if record is None:
        record = ModelRecord(
            config_name=folder.name,
            dataset_hash="",  # trained on no MedForget build yet: fine-tune it first
            parameters=sum(p.numel() for p in model.parameters()),
            recipe=Recipe(checkpoint=str(folder.resolve()), model_type=family.model_type),
        )
    return model.to(device).eval(), processor, record
