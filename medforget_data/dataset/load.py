"""Loading: `load_dataset("medforget", level=...)` and fast image-free reads of a built folder."""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

import pyarrow.parquet as pq
from pydantic import ValidationError

from medforget_data.constants import CONFIGS, DATASET_NAME, DEFAULT_SEED, SIZES
from medforget_data.dataset.features import ITEM_COLUMNS, row_item
from medforget_data.dataset.manifest import FORMAT_VERSION, MANIFEST_FILE, BuildConfig, parquet_name
from medforget_data.dataset.schema import QAItem
from medforget_data.errors import MedForgetError, check_choice
from medforget_data.io import first_error


def cache_root() -> Path:
    """`$MEDFORGET_CACHE`, else `$XDG_CACHE_HOME/medforget`, else `~/.cache/medforget`."""
    if os.environ.get("MEDFORGET_CACHE"):
        return Path(os.environ["MEDFORGET_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "medforget"


def local_dataset_dir(size: str = "full", source: str = "openi", seed: int = DEFAULT_SEED) -> Path:
    """The local build of (source, size, seed) in the user cache, built on first use."""
    check_choice("size", size, SIZES)
    path = cache_root() / "datasets" / f"{source}-{size}-seed{seed}-v{FORMAT_VERSION}"
    if not (path / MANIFEST_FILE).is_file():
        # Here, not at the top: building pulls in `datasets`, the sources and the renderer, which
        # the image-free readers below never need.
        from medforget_data.dataset.folder import ensure_dataset_folder

        ensure_dataset_folder(BuildConfig(source=source, size=size, seed=seed), path)
    return path


def load_dataset(
    name_or_path: str = DATASET_NAME,
    level: str = "institution",
    size: str = "full",
    source: str = "openi",
    seed: int = DEFAULT_SEED,
    **kwargs,
):
    """A `datasets.DatasetDict` of one level's splits (or of config "train").

    `name_or_path` is "medforget" (the local build, made on first use), a built folder, or a Hub repo id.
    """
    import datasets

    check_choice("level", level, CONFIGS)
    if name_or_path == DATASET_NAME:
        folder = str(local_dataset_dir(size=size, source=source, seed=seed))
    elif Path(name_or_path).exists():
        folder = str(name_or_path)
        if not (Path(folder) / MANIFEST_FILE).is_file():
            raise MedForgetError(f"{folder} is not a MedForget dataset folder: {MANIFEST_FILE} is missing")
    else:
        folder = name_or_path  # a Hub repo id
    return datasets.load_dataset(folder, level, **kwargs)


def split_path(dataset_dir: Path, config: str, split: str) -> Path:
    return Path(dataset_dir) / parquet_name(config, split)


def read_parquet(path: Path, columns: list[str] | None = None):
    """A parquet table; a truncated or foreign file is one line naming it, not a pyarrow traceback."""
    import pyarrow as pa

    try:
        return pq.read_table(path, columns=columns)
    except (pa.ArrowException, OSError) as error:
        first = (str(error).splitlines() or [type(error).__name__])[0][:120]
        raise MedForgetError(f"{path}: not a readable parquet file ({first}); rebuild the folder") from None


class SplitRow(NamedTuple):
    item: QAItem
    image: bytes | None  # the study image, encoded (PNG/JPEG), when asked for


def read_split(dataset_dir: Path, config: str, split: str, images: bool = False) -> list[SplitRow]:
    """Every row of one split: its validated item, and the encoded image when `images` (never decoded)."""
    path = split_path(dataset_dir, config, split)
    if not path.is_file():
        raise MedForgetError(f"{dataset_dir} has no split {config}/{split} ({path.name} is missing)")
    table = read_parquet(path, columns=[*ITEM_COLUMNS, "image"] if images else list(ITEM_COLUMNS))
    rows = []
    for number, row in enumerate(table.to_pylist()):
        try:
            item = row_item(row)
        except ValidationError as error:  # an edited row: name the file and row, not a pydantic dump
            raise MedForgetError(f"{path}: row {number} is not a valid item ({first_error(error)})") from None
        image = row["image"] if images else None
        rows.append(
            SplitRow(item, image["bytes"] if image else None)
        )  # a null image: for the caller to refuse
    return rows


def read_split_items(dataset_dir: Path, config: str, split: str) -> list[QAItem]:
    """Every item of one split, validated, without reading images."""
    return [row.item for row in read_split(dataset_dir, config, split)]
