"""The matched-utility protocol's cost per cell, as a ratio to the single-point run (issue 31).

    .venv/bin/python bench/protocol_cost.py --model VANILLA_DIR --dataset DATASET_DIR \\
        [--level patient] [--methods ga graddiff kl npo forget_mi chip] [--device cuda]

A single-point cell is one unlearning at the method's config, then generation and scoring of every
reported split (and the attacks); a swept cell is the method's default sweep (every grid point scored by
teacher-forced exact match on the unlearner's data), then the same generation and scoring at the chosen
point. Both are measured here in one process on one model: the generation + scoring of a cell once (on
vanilla's answers), each method's unlearning once and its sweep once. The attacks cost both protocols
the same and are left out, so the printed ratio is an upper bound. Target: swept / single ≤ 1.5.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

from medforget_data.dataset.built import BuiltDataset
from medforget_data.methods import get_method, make_config
from medforget_data.methods.base import load_unlearn_splits
from medforget_data.models.build import load_model
from medforget_data.models.generate import level_answers
from medforget_data.pipeline.sweep import sweep
from medforget_data.scoring.judge_offline import OfflineJudge
from medforget_data.scoring.score import score_predictions
from medforget_data.scoring.selection import DEFAULT_UTILITY_FLOOR
from medforget_data.scoring.submission import SubmissionMetadata

DEFAULT_METHODS = ("ga", "graddiff", "kl", "npo", "forget_mi", "chip")


def timed(work) -> tuple[object, float]:
    began = time.perf_counter()
    result = work()
    return result, time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--level", default="patient")
    parser.add_argument("--methods", nargs="+", default=list(DEFAULT_METHODS))
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    dataset = BuiltDataset(args.dataset)
    model, processor, record = load_model(args.model, device=args.device)
    splits = load_unlearn_splits(dataset, args.level)
    print(f"model {record.config_name} ({record.parameters:,} parameters), level {args.level}, {args.device}")

    def generate_and_score() -> None:
        answers = level_answers(model, processor, dataset, args.level)
        metadata = SubmissionMetadata(
            method="vanilla", model=record.config_name, level=args.level, seed=0, contact="bench"
        )
        score_predictions(
            dataset.level_items(args.level), answers, metadata, OfflineJudge(), dataset.dataset_hash
        )

    _, cell = timed(generate_and_score)
    print(f"generation + scoring of one cell: {cell:.1f} s")
    print("| method | unlearn s | sweep s | points | single cell s | swept cell s | swept / single |")
    print("|---|---|---|---|---|---|---|")
    totals = [0.0, 0.0]
    for name in args.methods:
        method, config = get_method(name), make_config(name)
        began = time.perf_counter()
        method.unlearn(copy.deepcopy(model), processor, splits, config)
        unlearn = time.perf_counter() - began
        began = time.perf_counter()
        _, swept = sweep(name, model, processor, splits, {}, floor=DEFAULT_UTILITY_FLOOR)
        seconds = time.perf_counter() - began
        single, swept_cell = unlearn + cell, seconds + cell
        totals[0] += single
        totals[1] += swept_cell
        print(
            f"| {name} | {unlearn:.1f} | {seconds:.1f} | {len(swept.points)} | {single:.1f} | "
            f"{swept_cell:.1f} | {swept_cell / single:.2f} |",
            flush=True,
        )
    print(f"| all | | | | {totals[0]:.1f} | {totals[1]:.1f} | {totals[1] / totals[0]:.2f} |")


if __name__ == "__main__":
    main()
