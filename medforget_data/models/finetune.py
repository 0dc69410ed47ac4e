"""Fine-tuning recipes: vanilla (`train`), oracle (`train` minus a level's forget), LoRA on a checkpoint."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from medforget_data.constants import LEVELS, TRAIN_CONFIG, TRAIN_SPLIT
from medforget_data.dataset.load import read_split_items
from medforget_data.dataset.manifest import read_manifest
from medforget_data.errors import MedForgetError, check_choice
from medforget_data.models.batches import Encoder
from medforget_data.models.build import ModelRecord, load_model, new_model, save_model
from medforget_data.models.configs import MODEL_SPECS
from medforget_data.models.examples import Example, read_examples
from medforget_data.models.train import TrainConfig, checkpoint_exists, train
from medforget_data.models.vision_pretrain import freeze_vision, pretrain_vision

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def training_examples(dataset_dir: Path, oracle_level: str | None = None) -> list[Example]:
    """`train`, or for an oracle `train` minus the forget split of `oracle_level`."""
    examples = read_examples(dataset_dir, TRAIN_CONFIG, TRAIN_SPLIT)
    if oracle_level is None:
        return examples
    check_choice("level", oracle_level, LEVELS)
    forget = {item.id for item in read_split_items(dataset_dir, oracle_level, "forget")}
    return [e for e in examples if e.item.id not in forget]


def add_lora(model, rank: int):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(
        model, LoraConfig(r=rank, lora_alpha=2 * rank, lora_dropout=0.0, target_modules=list(LORA_TARGETS))
    )


def finetune(
    dataset_dir: Path,
    out_dir: Path,
    config_name: str = "small",
    train_config: TrainConfig | None = None,
    oracle_level: str | None = None,
    base_model: Path | None = None,
    lora_rank: int | None = None,
    resume: bool = False,
    progress: bool = True,
    device: str = "cpu",
) -> ModelRecord:
    """Train a model and save it to `out_dir` (checkpoints under it while training)."""
    train_config = train_config or TrainConfig()
    manifest = read_manifest(dataset_dir)
    if out_dir.exists() and not resume and any(p.name != "checkpoint" for p in out_dir.iterdir()):
        raise MedForgetError(f"output folder {out_dir} already holds a model; choose another --out")
    if base_model is not None:
        model, processor, _ = load_model(base_model)
        name = f"{base_model.name}+lora" if lora_rank else base_model.name
    else:
        model, processor = new_model(config_name, dataset_dir, train_config.seed)
        name = config_name
        if "lr" not in train_config.model_fields_set:  # each size has its own recipe learning rate
            train_config = train_config.model_copy(update={"lr": MODEL_SPECS[config_name].lr})
    if lora_rank:
        model = add_lora(model, lora_rank)
    examples = training_examples(dataset_dir, oracle_level)
    encoder = Encoder(processor)
    encoded = [encoder.encode(example) for example in examples]
    began = time.perf_counter()
    vision_accuracy = None
    if base_model is None and train_config.vision_pretrain_epochs > 0:
        if not (resume and checkpoint_exists(out_dir)):  # a checkpoint already holds the pretrained tower
            vision_accuracy = pretrain_vision(
                model,
                encoder,
                examples,
                train_config.vision_pretrain_epochs,
                train_config.lr,
                train_config.seed,
                progress=progress,
                device=device,
            )
        freeze_vision(model)
    history = train(
        model,
        encoded,
        encoder.pad_id,
        train_config,
        checkpoint_root=out_dir,
        resume=resume,
        progress=progress,
        device=device,
    )
    if lora_rank:
        model = model.merge_and_unload()  # a plain Qwen2.5-VL again: every method loads it the same way
    record = ModelRecord(
        config_name=name,
        dataset_hash=manifest.dataset_hash,
        parameters=sum(p.numel() for p in model.parameters()),
        recipe={
            "mode": "oracle" if oracle_level else "vanilla",
            "oracle_level": oracle_level,
            "train_items": len(examples),
            "lora_rank": lora_rank,
            **train_config.model_dump(),
            "vision_pretrain_study_accuracy": vision_accuracy,
            "wall_seconds": time.perf_counter() - began,
            "torch_threads": torch.get_num_threads(),
        },
        history=history,
    )
    save_model(model.cpu(), processor, out_dir, record)
    return record
