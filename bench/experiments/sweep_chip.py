"""CHIP's quality against its two size-dependent knobs: k (top_fraction) and the share of layers edited.

    .venv/bin/python bench/experiments/sweep_chip.py --model RUN/models/vanilla --dataset DATASET_DIR \\
        --reference RUN/results/patient/vanilla.json [--level patient] \\
        [--top-fractions 0.1 0.3 0.5] [--layer-fractions 0.25 0.5 1.0]

The defaults (k = 10%, last 20% of the layers) were set for a 28-layer 7B model; on the 4-layer
`small` they edit one layer. Each point is a full cell as `medforget run` makes it (unlearn, greedy
answers on every split of the level, offline judge, utility relative to vanilla's results), printed
as a markdown row; nothing is asserted.
"""

from __future__ import annotations

import argparse
import copy
import tempfile
import time
from pathlib import Path

from medforget_data.leaderboard.rows import format_value, row_of
from medforget_data.methods import get_method, make_config
from medforget_data.methods.base import load_unlearn_splits
from medforget_data.methods.chip import chip_modules
from medforget_data.models.build import load_model
from medforget_data.models.generate import generate_submission
from medforget_data.scoring.judge_offline import OfflineJudge
from medforget_data.scoring.results import read_results
from medforget_data.scoring.score_file import score_submission_file
from medforget_data.scoring.submission import SubmissionMetadata

SHOWN = ("forget/generation", "forget/classification", "forget/cloze")
KEPT = ("retain/generation", "retain/classification", "retain/cloze")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--reference", type=Path, required=True, help="vanilla's results at the level")
    parser.add_argument("--level", default="patient")
    parser.add_argument("--top-fractions", type=float, nargs="+", default=[0.1, 0.3, 0.5])
    parser.add_argument("--layer-fractions", type=float, nargs="+", default=[0.25, 0.5, 1.0])
    args = parser.parse_args()
    model, processor, record = load_model(args.model)
    reference = read_results(args.reference)
    splits = load_unlearn_splits(args.dataset, args.level)
    print(f"model {record.config_name}, level {args.level}, {len(splits.forget)} forget items")
    print(
        "| k | layer fraction | projections | forget gen / cls / cloze | retain gen / cls / cloze "
        "| gap | sibling gap | utility | CHIP s |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    chip = get_method("chip")
    with tempfile.TemporaryDirectory() as scratch:
        submission = Path(scratch) / "chip.jsonl"
        for layer_fraction in args.layer_fractions:
            for top_fraction in args.top_fractions:
                config = make_config("chip", {"top_fraction": top_fraction, "layer_fraction": layer_fraction})
                began = time.perf_counter()
                edited = chip.unlearn(copy.deepcopy(model), processor, splits, config)
                seconds = time.perf_counter() - began
                metadata = SubmissionMetadata(
                    method="chip", model=record.config_name, level=args.level, seed=0, contact="sweep"
                )
                generate_submission(edited, processor, args.dataset, args.level, submission, metadata)
                results = score_submission_file(
                    submission, args.level, args.dataset, OfflineJudge(), reference
                )
                row = row_of(results)
                projections = len(
                    chip_modules(model, layer_fraction, config.include_merger, config.merger_layers)
                )
                forget = " / ".join(format_value(row.scores.get(c)) for c in SHOWN)
                retain = " / ".join(format_value(row.scores.get(c)) for c in KEPT)
                print(
                    f"| {top_fraction:g} | {layer_fraction:g} | {projections} | {forget} | {retain} "
                    f"| {row.gap:.3f} | {row.sibling_gap:.3f} | {format_value(row.utility)} "
                    f"| {seconds:.1f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
