"""Training throughput (samples/s, s/epoch) and generation throughput (tokens/s) of a model config.

    .venv/bin/python bench/bench_model.py --dataset DIR [--config small] [--samples 512]
    python3 bench/bench_model.py --dataset DIR --config base --device cuda --precision bf16 --samples 0

Training: one pass of `--samples` train items (0: all of `train`, i.e. one epoch; length-bucketed
batches of 16) on a fresh model. Generation: greedy answers for `--generate-samples` items (default
`--samples`), weights in `--precision`, new tokens counted up to each answer's end.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from medforget_data.dataset.examples import read_examples
from medforget_data.models.batches import Encoder
from medforget_data.models.build import new_model
from medforget_data.models.generate import generate_answers
from medforget_data.models.recipe import RecipeOptions, resolve_recipe
from medforget_data.models.train import PRECISIONS, precision_dtype, train


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--config", default="small")
    parser.add_argument("--samples", type=int, default=512, help="training items (0: all, one epoch)")
    parser.add_argument("--generate-samples", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--precision", default="fp32", choices=PRECISIONS)
    args = parser.parse_args()
    model, processor = new_model(args.config, args.dataset, seed=0)
    examples = read_examples(args.dataset, "train", "train")
    examples = examples[: args.samples] if args.samples else examples
    encoder = Encoder(processor)
    encoded = [encoder.encode(e) for e in examples]
    # one epoch of the size's own recipe (its rate and batch)
    recipe = resolve_recipe(args.config, RecipeOptions(epochs=1, precision=args.precision)).train
    began = time.perf_counter()
    train(model.to(args.device), encoded, processor.tokenizer.pad_token_id, recipe)
    train_seconds = time.perf_counter() - began
    model.to(args.device, dtype=precision_dtype(args.precision))
    examples = examples[: args.generate_samples or len(examples)]
    began = time.perf_counter()
    answers = generate_answers(model, processor, examples, batch_size=64, max_new_tokens=64)
    generate_seconds = time.perf_counter() - began
    tokens = sum(len(processor.tokenizer(a)["input_ids"]) + 1 for a in answers.values())  # + the end token
    parameters = sum(p.numel() for p in model.parameters())
    print(
        f"{args.config}: {parameters:,} parameters, {args.device} ({args.precision}), "
        f"{torch.get_num_threads()} threads"
    )
    train_rate, generate_rate = len(encoded) / train_seconds, tokens / generate_seconds
    print(f"training: {len(encoded)} samples in {train_seconds:.1f} s = {train_rate:.1f} samples/s")
    print(f"generation: {tokens} new tokens in {generate_seconds:.1f} s = {generate_rate:.1f} tokens/s")


if __name__ == "__main__":
    main()
