"""`medforget generate`: greedy answers for a level's splits, written as a submission file."""

from __future__ import annotations

import argparse
from pathlib import Path

from medforget_data.cli.finetune import add_dataset_options, dataset_dir
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
    parser.set_defaults(handler=run_generate)


def run_generate(args: argparse.Namespace) -> int:
    from medforget_data.constants import LEVELS
    from medforget_data.errors import check_choice
    from medforget_data.models.build import load_model
    from medforget_data.models.examples import read_examples
    from medforget_data.models.generate import DEFAULT_MAX_NEW_TOKENS, generate_answers
    from medforget_data.scoring.submission import SubmissionMetadata, write_submission

    check_choice("level", args.level, LEVELS)
    for split in args.splits:
        check_choice("split", split, LEVEL_SPLITS)
    folder = dataset_dir(args)
    model, processor, record = load_model(args.model, device=args.device)
    examples = [e for split in args.splits for e in read_examples(folder, args.level, split)]
    answers = generate_answers(
        model,
        processor,
        examples,
        batch_size=args.batch_size,
        max_new_tokens=args.max_new_tokens or DEFAULT_MAX_NEW_TOKENS,
    )
    metadata = SubmissionMetadata(
        method=args.method, model=record.config_name, level=args.level, seed=args.seed, contact=args.contact
    )
    write_submission(args.out, metadata, {e.item.id: answers[e.item.id] for e in examples})
    print(f"{len(examples)} answers written to {args.out}")
    return 0
