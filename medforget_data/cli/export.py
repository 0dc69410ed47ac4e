"""`medforget export --format published DIR OUT`: the published MedForget parquet layout."""

from __future__ import annotations

import argparse
from pathlib import Path

from medforget_data.constants import DEFAULT_SEED

EXPORT_FORMATS: tuple[str, ...] = ("published",)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "export",
        help="export a built dataset folder to another layout",
        description="published: <level>_level/forget_set_all.parquet and retain_set_all.parquet "
        "(retain ∪ sibling), readable by the published MedForget CHIP and evaluation scripts",
    )
    # Validated by the library (one-line error naming the valid formats), not by argparse choices.
    parser.add_argument("--format", default="published", help=f"one of {', '.join(EXPORT_FORMATS)}")
    parser.add_argument("dataset_dir", type=Path, metavar="DIR", help="a folder made by `medforget build`")
    parser.add_argument("out", type=Path, metavar="OUT", help="output folder (must not exist)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output folder")
    parser.add_argument(
        "--seed",
        type=int,
        default=DEFAULT_SEED,
        help="seed of the row order (each split shuffled, interleaved)",
    )
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from medforget_data.cli.checks import check_not_inside, check_output_folder
    from medforget_data.dataset.export import export_published, level_dir
    from medforget_data.errors import check_choice

    check_choice("format", args.format, EXPORT_FORMATS)
    check_not_inside(args.out, {"dataset folder": args.dataset_dir})
    check_output_folder(args.out, overwrite=args.overwrite)
    counts = export_published(args.dataset_dir, args.out, overwrite=args.overwrite, seed=args.seed)
    for level, files in counts.items():
        described = (f"{name} {c.rows} rows / {c.items} items" for name, c in files.items())
        print(f"{level_dir(level)}: " + ", ".join(described))
    print(f"published layout written to {args.out}")
    return 0
