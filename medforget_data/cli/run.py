"""`medforget run`: the main job on the embedded default.

For now it builds the default dataset (openi, full) into the user cache, verifies it and prints
its summary; the model, methods and leaderboard stages join as they land.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from medforget_data.cli.build import add_build_options, build_config
from medforget_data.errors import MedForgetError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("run", help="run the benchmark on the embedded default")
    add_build_options(parser)
    parser.add_argument("--out", type=Path, default=None, help="dataset folder (default: the user cache)")
    parser.set_defaults(handler=run_benchmark)


def run_benchmark(args: argparse.Namespace) -> int:
    from medforget_data.builders import build_dataset_folder
    from medforget_data.cli.info import print_summary
    from medforget_data.invariants import verify_folder
    from medforget_data.loading import local_dataset_dir
    from medforget_data.manifest import MANIFEST_FILE

    config = build_config(args)
    if args.out is not None:
        folder = args.out
        if not (folder / MANIFEST_FILE).is_file():
            build_dataset_folder(config, folder)
    elif config.mimic_root or config.image_size != 224:
        raise MedForgetError("--mimic-root and --image-size need --out (the cache holds default builds only)")
    else:
        folder = local_dataset_dir(size=config.size, source=config.source, seed=config.seed)
    problems = verify_folder(folder)
    if problems:
        raise MedForgetError(f"{folder}: {problems[0]}")
    print_summary(folder)
    print(f"dataset ready and verified: {folder}")
    return 0
