"""What drawing a training wording per item per epoch costs, against the canonical wording only.

    .venv/bin/python bench/wording_epoch_cost.py --dataset DIR [--config small] [--epochs 28]

A training step's cost follows the tokens of its padded batch, so an epoch's cost is compared by
the padded tokens of its batches (the recipe's length-grouped batching; independent of the load
on a shared machine), plus the seconds spent drawing and encoding the wordings.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from medforget_data.models.batches import Encoded, Encoder, WordingDraws, length_batches
from medforget_data.models.build import new_model
from medforget_data.models.finetune import training_examples
from medforget_data.models.recipe import RecipeOptions, resolve_recipe
from medforget_data.models.train import epoch_generator


def padded_tokens(encoded: list[Encoded], batch_size: int, epoch: int, seed: int) -> int:
    batches = length_batches(encoded, batch_size, epoch_generator(seed, epoch))
    return sum(len(b) * max(len(encoded[i].input_ids) for i in b) for b in batches)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--config", default="small")
    parser.add_argument("--epochs", type=int, default=None, help="default: the recipe's")
    args = parser.parse_args()
    config = resolve_recipe(args.config, RecipeOptions(epochs=args.epochs)).train
    _, processor = new_model(args.config, args.dataset, config.seed)
    examples = training_examples(args.dataset)
    began = time.perf_counter()
    canonical = [Encoder(processor).encode(e) for e in examples]
    canonical_seconds = time.perf_counter() - began
    draws = WordingDraws(Encoder(processor), examples)
    base = padded_tokens(canonical, config.batch_size, 0, config.seed)
    print(
        f"{len(examples)} items; canonical: {base:,} padded tokens per epoch, "
        f"encoded in {canonical_seconds:.1f} s"
    )
    ratios, draw_seconds = [], 0.0
    for epoch in range(config.epochs):
        began = time.perf_counter()
        drawn = draws.for_epoch(config.seed, epoch)
        draw_seconds += time.perf_counter() - began
        tokens = padded_tokens(drawn, config.batch_size, epoch, config.seed)
        ratios.append(tokens / base)  # grouping by length makes the canonical count the same every epoch
    print(
        f"drawn wordings: padded tokens per epoch / canonical: mean {sum(ratios) / len(ratios):.3f}, "
        f"min {min(ratios):.3f}, max {max(ratios):.3f}; drawing + encoding over {config.epochs} epochs "
        f"{draw_seconds:.1f} s ({draws.encoded_count:,} encodings)"
    )


if __name__ == "__main__":
    main()
