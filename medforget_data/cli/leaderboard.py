"""`medforget leaderboard RESULTS_DIR --out DIR`: Markdown, CSV, plot and a static page."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("leaderboard", help="aggregate results JSONs into the leaderboard")
    parser.add_argument("results_dir", type=Path)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out folder")
    parser.set_defaults(handler=run_leaderboard)


def run_leaderboard(args: argparse.Namespace) -> int:
    from medforget_data.cli.checks import check_not_inside, check_output_folder
    from medforget_data.errors import MedForgetError
    from medforget_data.leaderboard.table import write_leaderboard

    if not args.results_dir.is_dir():
        raise MedForgetError(f"results folder {args.results_dir} does not exist")
    check_not_inside(args.out, {"results folder": args.results_dir})
    check_output_folder(args.out, overwrite=args.overwrite)
    out = write_leaderboard(args.results_dir, args.out, overwrite=args.overwrite)
    print((out / "leaderboard.md").read_text(encoding="utf-8"))
    print(f"leaderboard written to {out}: " + ", ".join(sorted(p.name for p in out.iterdir())))
    return 0
