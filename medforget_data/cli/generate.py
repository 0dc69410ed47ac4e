"""`medforget generate`: greedy answers for a level's splits, written as a submission file."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from medforget_data.cli.finetune import (
    add_dataset_options,
    add_precision_option,
    dataset_dir,
    dataset_inputs,
)
from medforget_data.constants import DEFAULT_SEED, LEVEL_SPLITS, REPORTED_SPLITS

if TYPE_CHECKING:  # the model stack is imported only once the arguments are checked
    from medforget_data.models.build import Recipe


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("generate", help="generate answers and write a submission (JSONL)")
    add_dataset_options(parser)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--level", required=True)
    parser.add_argument("--splits", nargs="+", default=list(REPORTED_SPLITS))
    parser.add_argument("--out", type=Path, required=True, help="submission file to write")
    parser.add_argument(
        "--method", default=None, help="method recorded in the submission (default: the model folder's)"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    parser.add_argument("--contact", default="medforget")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument(
        "--max-new-tokens",
        type=int,
        default=None,
        help="one cap for every task (default: per task, its longest reference answer + 16 tokens)",
    )
    parser.add_argument("--device", default="cpu")
    add_precision_option(parser, "bf16 weights (GPU)")
    parser.set_defaults(handler=run_generate)


def recorded_method(recipe: Recipe) -> str:
    """What made a model folder: its last unlearning step, else how it was trained (vanilla, oracle)."""
    return recipe.unlearn.method if recipe.unlearn else recipe.mode or "vanilla"


def run_generate(args: argparse.Namespace) -> int:
    from medforget_data.cli.checks import check_not_inside, check_output_file
    from medforget_data.constants import LEVELS
    from medforget_data.dataset.manifest import read_manifest
    from medforget_data.errors import MedForgetError, check_choice
    from medforget_data.models.device import check_device, check_device_name

    # every argument is checked before the model is loaded or anything generated
    check_choice("level", args.level, LEVELS)
    for split in args.splits:
        check_choice("split", split, LEVEL_SPLITS)
    if args.batch_size < 1 or (args.max_new_tokens is not None and args.max_new_tokens < 1):
        raise MedForgetError("--batch-size and --max-new-tokens must be at least 1")
    check_not_inside(args.out, {**dataset_inputs(args), "model folder": args.model})
    check_output_file(args.out, overwrite=args.overwrite)
    check_device_name(args.device)
    check_device(args.device)
    from medforget_data.models.build import load_model
    from medforget_data.models.generate import generate_submission
    from medforget_data.models.train import PRECISIONS, precision_dtype
    from medforget_data.scoring.submission import SubmissionMetadata

    check_choice("precision", args.precision, PRECISIONS)
    folder = dataset_dir(args)
    manifest = read_manifest(folder)
    model, processor, record = load_model(
        args.model, device=args.device, dtype=precision_dtype(args.precision)
    )
    if record.dataset_hash != manifest.dataset_hash:
        raise MedForgetError(f"the model {args.model} was trained on another dataset than {folder}")
    method = recorded_method(record.recipe)
    if args.method is not None and args.method != method:
        raise MedForgetError(f"--method {args.method!r}, but {args.model} records a {method!r} model")
    metadata = SubmissionMetadata(
        method=method, model=record.config_name, level=args.level, seed=args.seed, contact=args.contact
    )
    count = generate_submission(
        model,
        processor,
        folder,
        args.level,
        args.out,
        metadata,
        splits=args.splits,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens,
    )
    print(f"{count} answers written to {args.out}")
    return 0
