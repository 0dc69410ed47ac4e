"""Wall time of each unlearning method at each level, and CHIP time / GA time measured in one run.

    .venv/bin/python bench/bench_methods.py --model MODEL_DIR --dataset DATASET_DIR \\
        [--levels institution patient study section] [--methods ga graddiff kl npo forget_mi chip] \\
        [--device cuda]

The model is the vanilla target (`medforget finetune --config small`); methods run with their
default configs on a fresh copy each. The oracle is a retrain: its time is the vanilla fine-tuning
time (BENCHMARKS.md, model section). Target: CHIP / GA ≤ 0.1.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import torch

from medforget_data.constants import LEVELS
from medforget_data.methods import get_method, make_config
from medforget_data.methods.base import load_unlearn_splits
from medforget_data.models.build import load_model

DEFAULT_METHODS = ("ga", "graddiff", "kl", "npo", "forget_mi", "chip")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--levels", nargs="+", default=list(LEVELS))
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    model, processor, record = load_model(args.model, device=args.device)
    print(f"model {record.config_name} ({record.parameters:,} parameters) on {args.device}")
    print("| level | forget items | " + " | ".join(args.methods) + " | CHIP / GA |")
    print("|---" * (len(args.methods) + 3) + "|")
    for level in args.levels:
        splits = load_unlearn_splits(args.dataset, level)
        seconds = {}
        for name in args.methods:
            began = time.perf_counter()
            method, config = get_method(name), make_config(name)
            method.unlearn(copy.deepcopy(model), processor, splits, config)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            seconds[name] = time.perf_counter() - began
        ratio = seconds["chip"] / seconds["ga"] if {"chip", "ga"} <= seconds.keys() else float("nan")
        cells = " | ".join(f"{seconds[name]:.1f} s" for name in args.methods)
        print(f"| {level} | {len(splits.forget)} | {cells} | {ratio:.3f} |", flush=True)


if __name__ == "__main__":
    main()
