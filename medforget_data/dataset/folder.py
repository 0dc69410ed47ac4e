"""Write a materialised build as a Hub dataset folder: parquet shards, card, hierarchy, manifest.

The folder is written under a temporary name beside the target and put in place at the end, so a
failed build leaves nothing behind (and an old folder it was to replace as it was); one build at a
time per target, under a lock beside it. It lives in the library, not in `builders/`, because the loader
builds a missing local dataset on first use; `medforget_data.builders` re-exports it.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from medforget_data import progress
from medforget_data.dataset.card import render_card
from medforget_data.dataset.features import item_features, item_row
from medforget_data.dataset.manifest import (
    HIERARCHY_FILE,
    MANIFEST_FILE,
    BuildConfig,
    Manifest,
    parquet_name,
)
from medforget_data.dataset.materialise import Materialised, materialise
from medforget_data.errors import MedForgetError
from medforget_data.io import atomic_folder, folder_lock, lock_file_beside, sha256_file, write_json

ROW_GROUP_SIZE = 100  # small row groups suit image datasets on the Hub viewer


def _write_parquet(path: Path, rows: list[dict], schema: pa.Schema) -> int:
    """Write the shard; return the Arrow size of the table read back from it.

    That is what `datasets` records as a split's num_bytes when it loads the shard (the table built
    from rows can differ by a few bytes of buffers).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    table = pa.Table.from_pylist(rows, schema=schema)
    pq.write_table(table, path, row_group_size=ROW_GROUP_SIZE, compression="snappy")
    return pq.read_table(path).nbytes


def write_folder(built: Materialised, folder: Path) -> Manifest:
    schema = item_features().arrow_schema
    counts: dict[str, dict[str, int]] = {}
    num_bytes: dict[str, dict[str, int]] = {}
    jobs = [
        (config, split, items)
        for config, by_split in built.splits.items()
        for split, items in by_split.items()
    ]
    for config, split, items in progress.bar(jobs, desc="writing parquet", unit="split"):
        rows = [item_row(item, built.images[item.study_id]) for item in items]
        size = _write_parquet(folder / parquet_name(config, split), rows, schema)
        num_bytes.setdefault(config, {})[split] = size
        counts.setdefault(config, {})[split] = len(rows)
    download_sizes = {
        config: sum((folder / parquet_name(config, split)).stat().st_size for split in by_split)
        for config, by_split in counts.items()
    }
    write_json(folder / HIERARCHY_FILE, built.hierarchy.model_dump(mode="json"))
    source = built.source
    (folder / "README.md").write_text(
        render_card(
            counts=counts,
            num_bytes=num_bytes,
            download_sizes=download_sizes,
            citation=source.citation,
            source=source.name,
            size=built.config.size,
            seed=built.config.seed,
            image_size=built.config.image_size,
            licence=source.licence,
            provenance=source.description,
            public_push_allowed=source.public_push_allowed,
            real_images=source.real_hierarchy,
            skipped=built.skipped_reports,
        ),
        encoding="utf-8",
    )
    files = {
        p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()
    }
    manifest = Manifest(
        build=built.config,
        licence=source.licence,
        public_push_allowed=source.public_push_allowed,
        counts=counts,
        targets={level: [list(node) for node in t.targets] for level, t in built.targets.items()},
        skipped_reports=built.skipped_reports,
        files=files,
        dataset_hash=Manifest.hash_files(files),
    ).sealed()
    write_json(folder / MANIFEST_FILE, manifest.model_dump(mode="json"))
    return manifest


def _build(config: BuildConfig, out: Path, overwrite: bool) -> Manifest:
    if Path(out).exists() and not overwrite:  # refuse before the (long) materialisation
        raise MedForgetError(f"output folder {out} already exists; pass --overwrite to replace it")
    built = materialise(config)
    with atomic_folder(out, overwrite=overwrite) as staging:
        return write_folder(built, staging)


def build_dataset_folder(config: BuildConfig, out: Path, overwrite: bool = False) -> Manifest:
    """Materialise `config` and write it to `out` atomically; a second build of `out` meanwhile is
    refused (the last to finish would otherwise silently replace the first)."""
    with folder_lock(lock_file_beside(out), f"{out} is being built by another medforget build"):
        return _build(config, out, overwrite)


def ensure_dataset_folder(config: BuildConfig, out: Path) -> None:
    """Build `out` unless it holds a build; a concurrent first use waits for the other's build and
    uses it (the loader's cache, where two processes may ask for the same dataset at once)."""
    with folder_lock(lock_file_beside(out), f"{out} is being built by another medforget build", wait=True):
        if not (Path(out) / MANIFEST_FILE).is_file():
            _build(config, out, overwrite=True)
