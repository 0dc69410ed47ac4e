"""Where one training step's time goes: `torch.profiler` over a few steps of a fresh model.

    .venv/bin/python bench/profile_step.py --dataset DIR [--config small] [--device cuda] [--steps 20]

Prints the step time and the operators with the most self CPU time (and CUDA time on a GPU).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from torch.profiler import ProfilerActivity, profile

from medforget_data.dataset.examples import read_examples
from medforget_data.models.batches import Encoder
from medforget_data.models.build import new_model
from medforget_data.models.recipe import RecipeOptions, resolve_recipe
from medforget_data.models.train import PRECISIONS, train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--config", default="small")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()
    model, processor = new_model(args.config, args.dataset, seed=0)
    encoder = Encoder(processor)
    examples = read_examples(args.dataset, "train", "train")[: 16 * args.steps]
    encoded = [encoder.encode(e) for e in examples]
    # one epoch of the size's own recipe (its rate and batch)
    recipe = resolve_recipe(args.config, RecipeOptions(epochs=1, precision=args.precision)).train
    pad_id = processor.tokenizer.pad_token_id
    train(model.to(args.device), encoded[:32], pad_id, recipe)  # warm-up
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if args.device == "cuda" else [])
    began = time.perf_counter()
    with profile(activities=activities) as profiler:
        train(model, encoded, pad_id, recipe)
    seconds = time.perf_counter() - began
    print(f"{args.config} on {args.device}: {seconds / args.steps * 1000:.1f} ms per step (profiled)")
    table = profiler.key_averages()
    print(table.table(sort_by="self_cpu_time_total", row_limit=25, max_name_column_width=60))
    if args.device == "cuda":
        print(table.table(sort_by="self_cuda_time_total", row_limit=10, max_name_column_width=60))


if __name__ == "__main__":
    main()
