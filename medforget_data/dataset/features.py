"""The dataset's columns, declared once: the parquet schema, the card's YAML and the loader use this."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from medforget_data.dataset.schema import QAItem

if TYPE_CHECKING:
    import datasets

# Text columns of every split, in order; the list columns, `image_answerable` and `image` follow.
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
# List columns: a classification item's options; an original item's training wordings (canonical
# first, so `question` alone is the canonical wording for a trainer that ignores the list).
LIST_COLUMNS: tuple[str, ...] = ("options", "train_questions")
ITEM_COLUMNS: tuple[str, ...] = (*STRING_COLUMNS, *LIST_COLUMNS, "image_answerable")


def item_features() -> datasets.Features:
    import datasets  # ~1 s of import: only the writers and the loader need it, not every read

    columns: dict[str, Any] = {name: datasets.Value("string") for name in STRING_COLUMNS}
    for name in LIST_COLUMNS:
        columns[name] = datasets.Sequence(datasets.Value("string"))
    columns["image_answerable"] = datasets.Value("bool")
    columns["image"] = datasets.Image()
    return datasets.Features(columns)


def item_row(item: QAItem, image_png: bytes) -> dict[str, Any]:
    row = {name: getattr(item, name) for name in ITEM_COLUMNS}
    for name in LIST_COLUMNS:
        row[name] = list(getattr(item, name))
    row["image"] = {"bytes": image_png, "path": None}
    return row


def row_item(row: dict[str, Any]) -> QAItem:
    """Back from a parquet row (image column ignored) to a validated item."""
    return QAItem(**{name: row[name] for name in ITEM_COLUMNS})
