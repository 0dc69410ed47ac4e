"""Pretrained bases: a project model config trained on the pretraining corpus (dataset/corpus.py), saved
in the Hub layout and cached per machine. The benchmark's facts are then fine-tuned into the base the
way a researcher's checkpoint is (`--model PATH`), as the published benchmark, TOFU and MUSE do.

A base is keyed by the corpus's hash and its whole recipe: the same key is the same folder, trained
once (resumed from its last epoch if interrupted); `pretraining.json` is written last and marks it done.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from medforget_data import progress
from medforget_data.constants import CHECKPOINT_DIR, PRETRAINING_FILE
from medforget_data.dataset.corpus import (
    CORPUS_VERSION,
    CorpusRecord,
    ensure_corpus_folder,
    read_corpus_record,
)
from medforget_data.dataset.load import cache_root
from medforget_data.dataset.manifest import FORMAT_VERSION, BuildConfig
from medforget_data.errors import MedForgetError, check_choice
from medforget_data.io import folder_lock, lock_file_beside, read_model, write_model
from medforget_data.models.build import MODEL_CARD_FILE
from medforget_data.models.configs import PRETRAINED_NAMES, PRETRAINED_SUFFIX
from medforget_data.models.finetune import finetune
from medforget_data.models.recipe import FinetuneRecipe, RecipeOptions, resolve_recipe

PRETRAINING_SCHEMA_VERSION = 1
# The base learns the language, frames and images, not the corpus's facts by heart: fewer epochs than
# the project recipe's 36 (which memorises); its tower pretrained on the corpus's images as usual.
PRETRAINING_EPOCHS = 12
PRETRAINING_OPTIONS = RecipeOptions(epochs=PRETRAINING_EPOCHS)


class PretrainingRecord(BaseModel):
    """`pretraining.json`: what the base was trained on and by which recipe (no times: its bytes are
    part of the base's content hash, which a run's keys hold)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: int = PRETRAINING_SCHEMA_VERSION
    model: str  # e.g. "small-pretrained"
    corpus_hash: str
    corpus: CorpusRecord  # the benchmark build it is disjoint from, and the leakage check's counts
    recipe: FinetuneRecipe
    examples: int  # per epoch: train, holdout and held-out wordings of the corpus


@dataclass(frozen=True)
class PretrainedBase:
    folder: Path
    seconds: float  # spent now: 0 when the base was cached
    record: PretrainingRecord


def config_of(name: str) -> str:
    """'small-pretrained' → 'small' (refusing a name that is not a pretrained model's)."""
    check_choice("pretrained model", name, PRETRAINED_NAMES)
    return name.removesuffix(PRETRAINED_SUFFIX)


def corpus_dir(build: BuildConfig) -> Path:
    name = f"{build.source}-{build.size}-seed{build.seed}-v{FORMAT_VERSION}.{CORPUS_VERSION}"
    return cache_root() / "corpora" / name


def pretraining_recipe(name: str, options: RecipeOptions | None = None) -> FinetuneRecipe:
    return resolve_recipe(config_of(name), options or PRETRAINING_OPTIONS)


def base_key(corpus_hash: str, recipe: FinetuneRecipe) -> str:
    payload = json.dumps({"corpus": corpus_hash, "recipe": recipe.identity()}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def read_pretraining(folder: Path) -> PretrainingRecord:
    return read_model(Path(folder) / PRETRAINING_FILE, PretrainingRecord, "MedForget pretraining record")


def _is_done(folder: Path) -> bool:
    return (folder / PRETRAINING_FILE).is_file() and (folder / MODEL_CARD_FILE).is_file()


def pretrain_base(
    name: str,
    build: BuildConfig,
    out: Path | None = None,
    options: RecipeOptions | None = None,
    device: str = "cpu",
) -> PretrainedBase:
    """The base `name` for the benchmark build `build`: from `out` or the cache when done, else trained
    there (the corpus built first, also cached). A concurrent first use waits for the other's."""
    recipe = pretraining_recipe(name, options)
    if build.source == "mimic-cxr" or build.mimic_root:
        raise MedForgetError("a pretrained base is built from the openi or synthetic source, not MIMIC-CXR")
    corpus = ensure_corpus_folder(build, corpus_dir(build))
    key = base_key(corpus.dataset_hash, recipe)
    folder = (
        out or cache_root() / "models" / f"{name}-{build.source}-{build.size}-seed{build.seed}-{key[:16]}"
    )
    with folder_lock(lock_file_beside(folder), f"{folder} is being pretrained by another process", wait=True):
        if _is_done(folder):
            record = read_pretraining(folder)
            if base_key(record.corpus_hash, record.recipe) != key:
                raise MedForgetError(f"{folder} holds another base (its corpus or recipe differs)")
            return PretrainedBase(folder, 0.0, record)
        resume = (folder / CHECKPOINT_DIR).is_dir()
        if folder.exists() and not resume:
            shutil.rmtree(folder)  # an unfinished save without its checkpoint: start over
        progress.note(
            f"pretraining {name} on the corpus disjoint from {build.source}/{build.size} → {folder}"
        )
        began = time.perf_counter()
        model_record = finetune(corpus, folder, recipe, resume=resume, device=device, pretraining=True)
        shutil.rmtree(folder / CHECKPOINT_DIR, ignore_errors=True)
        record = PretrainingRecord(
            model=name,
            corpus_hash=corpus.dataset_hash,
            corpus=read_corpus_record(corpus.folder),
            recipe=recipe,
            examples=model_record.recipe.train_items or 0,
        )
        write_model(folder / PRETRAINING_FILE, record)  # last: the base is done
        return PretrainedBase(folder, time.perf_counter() - began, record)
