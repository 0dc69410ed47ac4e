"""Fine-tuning by a resolved recipe (models/recipe.py): vanilla (`train`), an oracle (`train` minus a
level's forget split), from a project model config or a checkpoint of any supported family
(models/families/), whose vision tower and projector are frozen and come out bit-identical.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch

from medforget_data.constants import CHECKPOINT_DIR, HOLDOUT_SPLIT, LEVELS, TRAIN_CONFIG, TRAIN_SPLIT
from medforget_data.dataset.built import BuiltDataset
from medforget_data.dataset.examples import Example
from medforget_data.errors import MedForgetError, check_choice
from medforget_data.io import atomic_write_text
from medforget_data.models.batches import Encoder, WordingDraws
from medforget_data.models.build import (
    MODEL_CARD_FILE,
    BaseCheckpoint,
    ModelRecord,
    Recipe,
    checkpoint_hash,
    load_model,
    new_model,
    save_model,
)
from medforget_data.models.families import family_of_model
from medforget_data.models.lora import add_lora
from medforget_data.models.recipe import FinetuneRecipe
from medforget_data.models.train import LoopSetup, checkpoint_exists, train
from medforget_data.models.vision_pretrain import freeze_vision, pretrain_vision


def training_examples(
    dataset: BuiltDataset | Path, oracle_level: str | None = None, pretraining: bool = False
) -> list[Example]:
    """`train`, or for an oracle `train` minus the forget split of `oracle_level`; for pretraining on a
    corpus (dataset/corpus.py) everything it holds: train, holdout and every held-out wording."""
    dataset = BuiltDataset.of(dataset)
    examples = dataset.examples(TRAIN_CONFIG, TRAIN_SPLIT)
    if pretraining:
        # the level splits' rephrasings are the train items' own, asked in the evaluation wordings
        rephrased = dataset.rephrased_examples()
        return [*examples, *dataset.examples(TRAIN_CONFIG, HOLDOUT_SPLIT), *rephrased]
    if oracle_level is None:
        return examples
    check_choice("level", oracle_level, LEVELS)
    forget = {item.id for item in dataset.items(oracle_level, "forget")}
    return [e for e in examples if e.item.id not in forget]


def freeze_vision_and_projector(model) -> None:
    family = family_of_model(model)
    for name, parameter in model.named_parameters():
        if family.part(name) != "language":
            parameter.requires_grad_(False)


def starting_model(recipe: FinetuneRecipe, dataset: BuiltDataset):
    """(model, processor, name, provenance): a fresh project model, or the recipe's checkpoint with
    its vision tower and projector frozen (weights in bf16 only with LoRA and bf16 precision)."""
    checkpoint = recipe.checkpoint()
    if checkpoint is None:
        model, processor = new_model(recipe.model, dataset, recipe.train.seed)
        return model, processor, recipe.model, None
    if checkpoint_hash(checkpoint) != recipe.checkpoint_hash:
        raise MedForgetError(f"{checkpoint} changed since its recipe was resolved (content hash differs)")
    bf16_base = recipe.lora is not None and recipe.train.precision == "bf16"
    model, processor, base_record = load_model(
        checkpoint, dtype=torch.bfloat16 if bf16_base else torch.float32
    )
    freeze_vision_and_projector(model)
    provenance = BaseCheckpoint(
        model_type=family_of_model(model).model_type,
        record=base_record.model_dump(mode="json") if (checkpoint / MODEL_CARD_FILE).is_file() else None,
    )
    name = f"{checkpoint.name}+lora" if recipe.lora else checkpoint.name
    return model, processor, name, provenance


def finetune(
    dataset: BuiltDataset | Path,
    out_dir: Path,
    recipe: FinetuneRecipe,
    oracle_level: str | None = None,
    resume: bool = False,
    device: str = "cpu",
    pretraining: bool = False,
    accelerator: Any = None,
) -> ModelRecord:
    """Train a model by `recipe` and save it to `out_dir` (epoch checkpoints under it while training).

    From a checkpoint: LoRA when the recipe has adapters (merged back at the end), else the language
    model in full; a project model trains from random weights, its vision tower pretrained first. Under
    an `accelerate.Accelerator` (models/distributed.py) this is one of several processes: each trains on
    its share of every epoch's batches and the main process saves.
    """
    dataset = BuiltDataset.of(dataset)
    if out_dir.exists() and not resume and any(p.name != "checkpoint" for p in out_dir.iterdir()):
        raise MedForgetError(f"output folder {out_dir} already holds a model; choose another --out")
    model, processor, name, provenance = starting_model(recipe, dataset)
    train_config = recipe.train
    if recipe.gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if recipe.lora:
        model = add_lora(model, recipe.lora)
    examples = training_examples(dataset, oracle_level, pretraining)
    encoder = Encoder(processor)
    began = time.perf_counter()
    vision_accuracy = None
    if recipe.checkpoint() is None and train_config.vision_pretrain_epochs > 0:
        vision_accuracy = pretrained_tower(model, encoder, examples, recipe, out_dir, resume, device)
        freeze_vision(model)
    setup = LoopSetup(
        label="pretraining" if pretraining else "fine-tuning",
        checkpoint_root=out_dir,
        resume=resume,
        accelerator=accelerator,
    )
    # each epoch asks every item in one of its training wordings (drawn from the seed and epoch)
    history = train(model.to(device), WordingDraws(encoder, examples), encoder.pad_id, train_config, setup)
    if recipe.lora:
        model = model.merge_and_unload()  # a plain model again: every method loads it the same way
    if recipe.gradient_checkpointing:
        model.gradient_checkpointing_disable()
    record = ModelRecord(
        config_name=name,
        dataset_hash=dataset.dataset_hash,
        parameters=sum(p.numel() for p in model.parameters()),
        recipe=Recipe(
            mode="pretraining" if pretraining else "oracle" if oracle_level else "vanilla",
            oracle_level=oracle_level,
            train_items=len(examples),
            finetune=recipe,
            base_model=provenance,
            vision_pretrain_study_accuracy=vision_accuracy,
            wall_seconds=time.perf_counter() - began,
            torch_threads=torch.get_num_threads(),
            processes=accelerator.num_processes if accelerator is not None else None,
        ),
        history=history,
    )
    if accelerator is not None:
        accelerator.wait_for_everyone()
        if not accelerator.is_main_process:
            return record
    save_model(model.cpu(), processor, out_dir, record)
    return record


VISION_RECORD_FILE = "vision_pretrain.json"


def pretrained_tower(
    model, encoder: Encoder, examples, recipe: FinetuneRecipe, out_dir: Path, resume: bool, device: str
):
    """Pretrain the vision tower; its study accuracy. A resumed training's checkpoint already holds the
    pretrained tower: the accuracy measured then is read back, so the record equals an uninterrupted one's."""
    saved = out_dir / CHECKPOINT_DIR / VISION_RECORD_FILE
    if resume and checkpoint_exists(out_dir) and saved.is_file():
        return json.loads(saved.read_text(encoding="utf-8"))["study_accuracy"]
    accuracy = pretrain_vision(
        model,
        encoder,
        examples,
        recipe.train.vision_pretrain_epochs,
        recipe.train.lr,
        recipe.train.seed,
        device=device,
    )
    saved.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(saved, json.dumps({"study_accuracy": accuracy}))
    return accuracy
