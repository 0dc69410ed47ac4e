"""Why the vision tower is pretrained and frozen: one image-keyed fact, three ways of training `small`.

    .venv/bin/python bench/experiments/vision_collapse.py --dataset DIR [--fact patient.sex] [--epochs 60]

Trains only on the generation items of one fact whose answer can only come from the image, with
  joint     — vision tower trained with the language model (the recipe before vision pretraining),
  frozen    — vision tower left at its random initialisation,
  pretrain  — vision tower pretrained to tell the images apart (models/vision_pretrain.py), frozen.
Every 20 epochs: mean train loss, the share of items whose every answer token is predicted
(teacher-forced), and the mean cosine between different images' visual summaries (1 = collapsed).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from medforget_data.dataset.examples import read_examples
from medforget_data.models.batches import Encoder, collate
from medforget_data.models.build import new_model
from medforget_data.models.losses import answer_logits
from medforget_data.models.recipe import RecipeOptions, resolve_recipe
from medforget_data.models.train import train
from medforget_data.models.vision_pretrain import (
    freeze_vision,
    mean_cosine_between_images,
    pretrain_vision,
    training_images,
)

ROUND = 20  # epochs between measurements


def all_tokens_right(model, encoded, pad_id: int) -> float:
    model.eval()
    right = []
    with torch.no_grad():
        for start in range(0, len(encoded), 64):
            answer = answer_logits(model, collate(encoded[start : start + 64], pad_id), "cpu")
            hits = (answer.logits.argmax(-1) == answer.labels).float()
            right += [float(row.min()) for row in answer.per_row(hits)]
    return sum(right) / len(right)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--fact", default="patient.sex")
    parser.add_argument("--epochs", type=int, default=60)
    parser.add_argument("--pretrain-epochs", type=int, default=80)
    args = parser.parse_args()
    all_examples = read_examples(args.dataset, "train", "train")
    examples = [e for e in all_examples if e.item.task == "generation" and e.item.fact == args.fact]
    images = training_images(examples)
    print(f"{args.fact}: {len(examples)} generation items, {len(images)} images")
    for variant in ("joint", "frozen", "pretrain"):
        began = time.perf_counter()
        model, processor = new_model("small", args.dataset, seed=0)
        encoder = Encoder(processor)
        if variant == "pretrain":
            pretrain_vision(model, encoder, all_examples, args.pretrain_epochs, 2e-3, seed=0)
        if variant != "joint":
            freeze_vision(model)
        encoded = [encoder.encode(e) for e in examples]
        pad_id = processor.tokenizer.pad_token_id
        print(f"{variant}: mean cosine at start {mean_cosine_between_images(model, encoder, images):.3f}")
        for done in range(ROUND, args.epochs + 1, ROUND):
            # warm restarts of the recipe's schedule, ROUND epochs each: a measurement between them
            history = train(
                model, encoded, pad_id, resolve_recipe("tiny", RecipeOptions(epochs=ROUND, lr=2e-3)).train
            )
            right = all_tokens_right(model, encoded, pad_id)
            cosine = mean_cosine_between_images(model, encoder, images)
            loss = history[-1]["loss"]
            print(
                f"  {variant} epoch {done}: loss {loss:.3f}, all answer tokens right {right:.3f}, "
                f"mean cosine {cosine:.3f}",
                flush=True,
            )
        print(f"  {variant}: {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
