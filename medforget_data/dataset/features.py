"""The dataset's columns, declared once: the parquet schema, the card's YAML and the loader use this."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from medforget_data.dataset.schema import QAItem

if TYPE_CHECKING:
    import datasets

# Text columns of every split, in order; `options` and `image` are added below.
STRING_COLUMNS: tuple[str, ...] = (
    "id",
    "question",
    "answer",
    "task",
    "fact_level",
    "fact",
    "institution_id",
    "patient_id",
    "study_id",
    "section",
    "variant",
    "group_id",
)
ITEM_COLUMNS: tuple[str, ...] = (*STRING_COLUMNS, "options", "image_answerable")


def item_features() -> datasets.Features:
    import datasets  # ~1 s of import: only the writers and the loader need it, not every read

    columns: dict[str, Any] = {name: datasets.Value("string") for name in STRING_COLUMNS}
    columns["options"] = datasets.Sequence(datasets.Value("string"))
    columns["image_answerable"] = datasets.Value("bool")
    columns["image"] = datasets.Image()
    return datasets.Features(columns)


def item_row(item: QAItem, image_png: bytes) -> dict[str, Any]:
    row = {name: getattr(item, name) for name in ITEM_COLUMNS}
    row["options"] = list(item.options)
    row["image"] = {"bytes": image_png, "path": None}
    return row


def row_item(row: dict[str, Any]) -> QAItem:
    """Back from a parquet row (image column ignored) to a validated item."""
    return QAItem(**{name: row[name] for name in ITEM_COLUMNS})
