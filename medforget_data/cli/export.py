"""`medforget export --format published DIR OUT`: the published MedForget parquet layout."""

from __future__ import annotations

import argparse
from pathlib import Path

EXPORT_FORMATS: tuple[str, ...] = ("published",)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("export", help="export a dataset folder to another layout")
    parser.add_argument("--format", default="published", help="published (forget_set_all / retain_set_all)")
    parser.add_argument("dataset_dir", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--overwrite", action="store_true")
    parser.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from medforget_data.errors import check_choice
    from medforget_data.export import export_published

    check_choice("format", args.format, EXPORT_FORMATS)
    counts = export_published(args.dataset_dir, args.out, overwrite=args.overwrite)
    for level, files in counts.items():
        print(f"{level}: " + ", ".join(f"{name} {rows} rows" for name, rows in files.items()))
    print(f"published layout written to {args.out}")
    return 0
