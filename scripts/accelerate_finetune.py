"""Fine-tune with `accelerate` across processes: GPUs, or CPU processes as a demonstration.

    torchrun --nproc_per_node 2 scripts/accelerate_finetune.py DATASET OUT [--config tiny] [--epochs 1]
    accelerate launch --multi_gpu --num_processes N scripts/accelerate_finetune.py DATASET OUT --config small

`Accelerator` reads the distributed environment torchrun sets (gloo on CPU, NCCL on GPUs). Each
process trains on its share of every epoch's batches, gradients are all-reduced, and the main
process saves the model folder.
"""

from __future__ import annotations

import argparse
import contextlib
from pathlib import Path

import torch
from accelerate import Accelerator

from medforget_data import progress
from medforget_data.dataset.manifest import read_manifest
from medforget_data.models.batches import Encoder
from medforget_data.models.build import ModelRecord, Recipe, new_model, save_model
from medforget_data.models.finetune import training_examples
from medforget_data.models.recipe import RecipeOptions, resolve_recipe
from medforget_data.models.train import LoopSetup, train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("dataset", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--config", default="tiny")
    parser.add_argument("--epochs", type=int, default=1)
    args = parser.parse_args()
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    model, processor = new_model(args.config, args.dataset, seed=0)
    encoder = Encoder(processor)
    encoded = [encoder.encode(e) for e in training_examples(args.dataset)]
    # the recipe's numbers, but the tower trains jointly here (no separate pretraining stage)
    recipe = resolve_recipe(args.config, RecipeOptions(epochs=args.epochs, vision_pretrain_epochs=0))
    config = recipe.train
    # One bar, the main process's.
    with contextlib.nullcontext() if accelerator.is_main_process else progress.quiet():
        history = train(
            model,
            encoded,
            processor.tokenizer.pad_token_id,
            config,
            LoopSetup(label="fine-tuning", accelerator=accelerator),
        )
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        unwrapped = accelerator.unwrap_model(model)
        record = ModelRecord(
            config_name=args.config,
            dataset_hash=read_manifest(args.dataset).dataset_hash,
            parameters=sum(p.numel() for p in unwrapped.parameters()),
            recipe=Recipe(processes=accelerator.num_processes, finetune=recipe),
            history=history,
        )
        save_model(unwrapped, processor, args.out, record)
        print(
            f"{accelerator.num_processes} processes; final loss {history[-1]['loss']:.4f}; saved {args.out}"
        )


if __name__ == "__main__":
    main()
