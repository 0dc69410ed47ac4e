"""`medforget generate`: greedy answers for a level's splits, written as a submission file."""

from __future__ import annotations

import argparse
from pathlib import Path

from medforget_data.cli.finetune import add_dataset_options, add_precision_option, dataset_dir
from medforget_data.constants import DEFAULT_SEED, LEVEL_SPLITS


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("generate", help="generate answers and write a submission (JSONL)")
    add_dataset_options(parser)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--level", required=True)
    parser.add_argument("--splits", nargs="+", default=list(LEVEL_SPLITS))
    parser.add_argument("--out", type=Path, required=True, help="submission file to write")
    parser.add_argument("--method", default="vanilla", help="method name recorded in the submission")
    parser.add_argument("--contact", default="medforget")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-new-tokens", type=int, default=None)
    parser.add_argument("--device", default="cpu")
    add_precision_option(parser, "bf16 weights (GPU)")
    parser.set_defaults(handler=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    from medforget_data.errors import check_choice
    from medforget_data.models.build import load_model
    from medforget_data.models.generate import DEFAULT_MAX_NEW_TOKENS, generate_submission
    from medforget_data.models.train import PRECISIONS, precision_dtype
    from medforget_data.scoring.submission import SubmissionMetadata

    check_choice("precision", args.precision, PRECISIONS)
    folder = dataset_dir(args)
    model, processor, record = load_model(
        args.model, device=args.device, dtype=precision_dtype(args.precision)
    )
    metadata = SubmissionMetadata(
        method=args.method, model=record.config_name, level=args.level, seed=args.seed, contact=args.contact
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
        max_new_tokens=args.max_new_tokens or DEFAULT_MAX_NEW_TOKENS,
    )
    print(f"{count} answers written to {args.out}")
    return 0
