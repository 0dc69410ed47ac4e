"""`medforget build`: materialise a source into a Hub dataset folder (and optionally push it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from medforget_data.constants import DEFAULT_IMAGE_SIZE, DEFAULT_SEED, SIZES
from medforget_data.dataset.sources import DEFAULT_SOURCE


def add_build_options(parser: argparse.ArgumentParser, default_size: str = "full") -> None:
    # Choices are validated by the library (one-line error listing the valid names), not argparse.
    parser.add_argument("--source", default=DEFAULT_SOURCE, help="openi (default), synthetic or mimic-cxr")
    parser.add_argument("--size", default=default_size, help=f"one of {', '.join(SIZES)}")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE)
    parser.add_argument("--mimic-root", default=None, help="MIMIC-CXR-JPG root (source mimic-cxr)")
    parser.add_argument(
        "--max-patients", type=int, default=None, help="cap on patients read (source mimic-cxr)"
    )


def build_config(args: argparse.Namespace):
    from medforget_data.dataset.manifest import BuildConfig

    return BuildConfig(
        source=args.source,
        size=args.size,
        seed=args.seed,
        image_size=args.image_size,
        mimic_root=args.mimic_root,
        max_patients=args.max_patients,
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("build", help="build the dataset folder (parquet + card + manifest)")
    add_build_options(parser)
    parser.add_argument("--out", type=Path, required=True, help="output folder (must not exist)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument("--push", metavar="REPO_ID", default=None, help="upload to this Hub dataset repo")
    parser.add_argument("--private", action="store_true", help="create the Hub repo as private")
    parser.add_argument(
        "--allow-restricted",
        action="store_true",
        help="allow pushing data whose licence restricts sharing (private repos only)",
    )
    parser.set_defaults(handler=run_build)


def run_build(args: argparse.Namespace) -> int:
    from medforget_data.builders import build_dataset_folder, check_push_allowed, push_dataset_folder
    from medforget_data.builders.push import check_source_push_allowed
    from medforget_data.cli.checks import check_at_least, check_not_inside, check_output_folder
    from medforget_data.cli.info import print_summary
    from medforget_data.constants import SIZES
    from medforget_data.dataset.sources import SOURCE_NAMES
    from medforget_data.errors import check_choice

    check_choice("size", args.size, SIZES)
    check_choice("source", args.source, SOURCE_NAMES)
    check_at_least("--image-size", args.image_size, 1)
    check_at_least("--max-patients", args.max_patients, 1)
    config = build_config(args)
    check_not_inside(args.out, {"MIMIC-CXR root": Path(args.mimic_root) if args.mimic_root else None})
    check_output_folder(args.out, overwrite=args.overwrite)
    if args.push:  # the licence is the source's: refuse before the (long) build, not after
        check_source_push_allowed(config.source, args.private, args.allow_restricted)
    manifest = build_dataset_folder(config, args.out, overwrite=args.overwrite)
    print_summary(args.out, manifest)
    if args.push:
        check_push_allowed(args.out, args.private, args.allow_restricted)
        url = push_dataset_folder(
            args.out, args.push, private=args.private, allow_restricted=args.allow_restricted
        )
        print(f"pushed to {url}")
    return 0
