"""`medforget info DIR`: counts per config, split, task and fact level."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.table import Table

from medforget_data.constants import LEVELS, TASKS
from medforget_data.dataset.manifest import Manifest, read_manifest


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("info", help="counts per config/split/task/level of a dataset folder")
    parser.add_argument("dataset_dir", type=Path)
    parser.set_defaults(handler=run_info)


def print_summary(dataset_dir: Path, manifest: Manifest | None = None) -> None:
    from medforget_data.dataset.load import read_split_items

    manifest = manifest or read_manifest(dataset_dir)
    table = Table(
        title=f"MedForget {manifest.build.source}/{manifest.build.size} seed {manifest.build.seed} "
        f"— {dataset_dir}"
    )
    for column in ("config", "split", "rows", *TASKS, "/".join(LEVELS)):
        table.add_column(column, justify="left" if column in ("config", "split") else "right")
    for config, by_split in manifest.counts.items():
        for split in by_split:
            items = read_split_items(dataset_dir, config, split)
            tasks = Counter(item.task for item in items)
            levels = Counter(item.fact_level for item in items)
            table.add_row(
                config,
                split,
                str(len(items)),
                *(str(tasks[t]) for t in TASKS),
                "/".join(str(levels[level]) for level in LEVELS),
            )
    # A fixed width when piped, so logs keep whole columns.
    console = Console() if sys.stdout.isatty() else Console(width=120)
    console.print(table)
    skipped = ", ".join(f"{k}: {v}" for k, v in manifest.skipped_reports.items()) or "none"
    console.print(f"skipped reports: {skipped}; dataset hash {manifest.dataset_hash[:16]}…")


def run_info(args: argparse.Namespace) -> int:
    print_summary(args.dataset_dir)
    return 0
