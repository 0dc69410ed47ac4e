"""Fine-tuning recipes: vanilla (`train`), oracle (`train` minus a level's forget), LoRA on a checkpoint.

A checkpoint (any supported family, models/families/) is fine-tuned with the published recipe:
LoRA r 16, α 16 on the language model's q/k/v/o/gate/up/down, lr 1e-4, 10 epochs; the vision tower
and projector are frozen and come out bit-identical. Its oracle is the same checkpoint and recipe
on `train` minus the level's forget split.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
from pydantic import BaseModel, ConfigDict

from medforget_data.constants import LEVELS, TRAIN_CONFIG, TRAIN_SPLIT
from medforget_data.dataset.load import read_split_items
from medforget_data.dataset.manifest import read_manifest
from medforget_data.errors import MedForgetError, check_choice
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
from medforget_data.models.configs import MODEL_SPECS
from medforget_data.models.examples import Example, read_examples
from medforget_data.models.families import family_of_model
from medforget_data.models.train import LoopSetup, TrainConfig, checkpoint_exists, train
from medforget_data.models.vision_pretrain import freeze_vision, pretrain_vision

LORA_TARGETS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class CheckpointRecipe(BaseModel):
    """Defaults for fine-tuning a checkpoint (the published MedForget LoRA recipe); all overridable."""

    model_config = ConfigDict(frozen=True)

    lora_rank: int = 16
    lora_alpha: int = 16
    lr: float = 1e-4
    epochs: int = 10


CHECKPOINT_RECIPE = CheckpointRecipe()


def training_examples(dataset_dir: Path, oracle_level: str | None = None) -> list[Example]:
    """`train`, or for an oracle `train` minus the forget split of `oracle_level`."""
    examples = read_examples(dataset_dir, TRAIN_CONFIG, TRAIN_SPLIT)
    if oracle_level is None:
        return examples
    check_choice("level", oracle_level, LEVELS)
    forget = {item.id for item in read_split_items(dataset_dir, oracle_level, "forget")}
    return [e for e in examples if e.item.id not in forget]


def lora_target_modules(model) -> list[str]:
    """Full names of the language model's attention and MLP projections: a bare suffix would also
    match the vision tower's `mlp.{gate,up,down}_proj` (Qwen2.5-VL), which must stay frozen."""
    family = family_of_model(model)
    return [
        name
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.Linear)
        and name.rsplit(".", 1)[-1] in LORA_TARGETS
        and family.part(name) == "language"
    ]


def add_lora(model, rank: int, alpha: int | None = None):
    from peft import LoraConfig, get_peft_model

    config = LoraConfig(
        r=rank,
        lora_alpha=alpha if alpha is not None else 2 * rank,
        lora_dropout=0.0,
        target_modules=lora_target_modules(model),
    )
    return get_peft_model(model, config)


def freeze_vision_and_projector(model) -> None:
    family = family_of_model(model)
    for name, parameter in model.named_parameters():
        if family.part(name) != "language":
            parameter.requires_grad_(False)


def checkpoint_train_config(train_config: TrainConfig) -> TrainConfig:
    """The checkpoint recipe's lr and epochs where the caller set none; no vision pretraining (a
    checkpoint's tower is pretrained already, and stays frozen)."""
    if "vision_pretrain_epochs" in train_config.model_fields_set and train_config.vision_pretrain_epochs:
        raise MedForgetError("vision pretraining is for the project's own models, not a checkpoint")
    unset = {
        key: getattr(CHECKPOINT_RECIPE, key)
        for key in ("lr", "epochs")
        if key not in train_config.model_fields_set
    }
    return train_config.model_copy(update={**unset, "vision_pretrain_epochs": 0})


def finetune(
    dataset_dir: Path,
    out_dir: Path,
    config_name: str = "small",
    train_config: TrainConfig | None = None,
    oracle_level: str | None = None,
    base_model: Path | None = None,
    lora_rank: int | None = None,
    resume: bool = False,
    device: str = "cpu",
    lora_alpha: int | None = None,
    gradient_checkpointing: bool = False,
) -> ModelRecord:
    """Train a model and save it to `out_dir` (checkpoints under it while training).

    From a checkpoint (`base_model`): LoRA when `lora_rank` is given, else the language model in
    full; weights are held in fp32, or with LoRA and bf16 precision in bf16 (adapters in fp32).
    """
    train_config = train_config or TrainConfig()
    manifest = read_manifest(dataset_dir)
    if out_dir.exists() and not resume and any(p.name != "checkpoint" for p in out_dir.iterdir()):
        raise MedForgetError(f"output folder {out_dir} already holds a model; choose another --out")
    provenance = None
    if base_model is not None:
        bf16_base = bool(lora_rank) and train_config.precision == "bf16"
        model, processor, base_record = load_model(
            base_model, dtype=torch.bfloat16 if bf16_base else torch.float32
        )
        name = f"{base_model.name}+lora" if lora_rank else base_model.name
        train_config = checkpoint_train_config(train_config)
        lora_alpha = lora_alpha if lora_alpha is not None else CHECKPOINT_RECIPE.lora_alpha
        freeze_vision_and_projector(model)
        provenance = BaseCheckpoint(
            path=str(Path(base_model).resolve()),
            content_hash=checkpoint_hash(base_model),
            model_type=family_of_model(model).model_type,
            record=base_record.model_dump(mode="json")
            if (Path(base_model) / MODEL_CARD_FILE).is_file()
            else None,
        )
    else:
        model, processor = new_model(config_name, dataset_dir, train_config.seed)
        name = config_name
        if "lr" not in train_config.model_fields_set:  # each size has its own recipe learning rate
            train_config = train_config.model_copy(update={"lr": MODEL_SPECS[config_name].lr})
    if gradient_checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    if lora_rank:
        model = add_lora(model, lora_rank, lora_alpha)
    examples = training_examples(dataset_dir, oracle_level)
    encoder = Encoder(processor)
    # each epoch asks every item in one of its training wordings (drawn from the seed and epoch)
    encoded = WordingDraws(encoder, examples)
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
                device=device,
            )
        freeze_vision(model)
    setup = LoopSetup(label="fine-tuning", checkpoint_root=out_dir, resume=resume)
    history = train(model.to(device), encoded, encoder.pad_id, train_config, setup)
    if lora_rank:
        model = model.merge_and_unload()  # a plain model again: every method loads it the same way
    if gradient_checkpointing:
        model.gradient_checkpointing_disable()
    record = ModelRecord(
        config_name=name,
        dataset_hash=manifest.dataset_hash,
        parameters=sum(p.numel() for p in model.parameters()),
        recipe=Recipe(
            mode="oracle" if oracle_level else "vanilla",
            oracle_level=oracle_level,
            train_items=len(examples),
            lora_rank=lora_rank,
            lora_alpha=lora_alpha if lora_rank else None,
            gradient_checkpointing=gradient_checkpointing,
            base_model=provenance,
            train=train_config,
            vision_pretrain_study_accuracy=vision_accuracy,
            wall_seconds=time.perf_counter() - began,
            torch_threads=torch.get_num_threads(),
        ),
        history=history,
    )
    save_model(model.cpu(), processor, out_dir, record)
    return record
