"""Experiment: fine-tune `small` with a per-item mean answer NLL instead of the per-token mean.

    .venv/bin/python bench/experiments/item_mean_loss.py --dataset DIR --out MODEL_DIR
    .venv/bin/python bench/eval_memorisation.py --model MODEL_DIR --dataset DIR --limit 600

The recipe's loss averages over answer tokens, so a 40-token report section weighs 40 times a
one-token cloze answer; here every item weighs the same. Everything else is the default recipe.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import medforget_data.models.train as train_module
from medforget_data.models.finetune import finetune
from medforget_data.models.losses import answer_logits
from medforget_data.models.recipe import RecipeOptions, resolve_recipe


def item_mean_loss(model, batch: dict[str, torch.Tensor], device) -> torch.Tensor:
    answer = answer_logits(model, batch, device)
    nll = -answer.token_logprobs()
    tokens = torch.bincount(answer.rows, minlength=answer.batch_size).clamp(min=1).to(nll.dtype)
    return (answer.row_sums(nll) / tokens).mean()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    train_module.answer_loss = item_mean_loss  # the training loop's loss, swapped for this run only
    record = finetune(args.dataset, args.out, resolve_recipe("small", RecipeOptions()))
    print("loss per epoch", [round(h["loss"], 3) for h in record.history])


if __name__ == "__main__":
    main()
