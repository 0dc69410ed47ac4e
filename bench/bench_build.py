"""Time the `full` build of the default source (target: under 3 minutes on 2 cores).

    .venv/bin/python bench/bench_build.py [--source openi] [--size full]

Prints wall time per stage and in total; no assertion (benchmarks are not tests).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from medforget_data.builders.hub_folder import write_folder
from medforget_data.dataset.manifest import BuildConfig
from medforget_data.dataset.materialise import materialise


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", default="openi")
    parser.add_argument("--size", default="full")
    args = parser.parse_args()
    config = BuildConfig(source=args.source, size=args.size)
    start = time.perf_counter()
    built = materialise(config)
    materialised = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        manifest = write_folder(built, Path(tmp) / "out")
        folder_bytes = sum(p.stat().st_size for p in (Path(tmp) / "out").rglob("*") if p.is_file())
    written = time.perf_counter()
    trained = manifest.counts["train"]["train"]
    print(
        f"build {args.source}/{args.size}: {trained} trained items, {len(built.images)} images, "
        f"{folder_bytes / 2**20:.1f} MiB on disk"
    )
    print(f"materialise (source, hierarchy, tasks, splits, rendering): {materialised - start:.1f} s")
    print(f"write (parquet, card, hashes): {written - materialised:.1f} s")
    print(f"total: {written - start:.1f} s (target < 180 s)")


if __name__ == "__main__":
    main()
