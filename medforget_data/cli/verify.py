"""`medforget verify DIR`: re-check every hash and split invariant; exit non-zero on the first violation."""

from __future__ import annotations

import argparse
from pathlib import Path

from medforget_data.errors import MedForgetError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("verify", help="re-check a dataset folder's hashes and invariants")
    parser.add_argument("dataset_dir", type=Path)
    parser.set_defaults(handler=run_verify)


def run_verify(args: argparse.Namespace) -> int:
    from medforget_data.dataset.invariants import verify_folder

    problems = verify_folder(args.dataset_dir)
    if problems:
        raise MedForgetError(
            f"{args.dataset_dir}: {problems[0]}"
            + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
        )
    print(f"{args.dataset_dir}: all hashes and invariants hold")
    return 0
