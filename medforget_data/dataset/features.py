"""The dataset's columns, derived from `QAItem`'s fields: the parquet schema, the card's YAML and the loader.

A column is named and typed once, as a field of `QAItem` (schema.py); this module only decides how each
field's type is stored and in which order the columns come.
"""

from __future__ import annotations

from types import NoneType, UnionType
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

from medforget_data.dataset.schema import QAItem

if TYPE_CHECKING:
    import datasets

ColumnKind = Literal["string", "list", "bool"]
# Text columns first, then list columns, then flags (then `image`), each in QAItem's field order: the
# order every build so far has written, which the parquet bytes and the card's YAML depend on.
COLUMN_ORDER: tuple[ColumnKind, ...] = ("string", "list", "bool")


def column_kind(annotation: object) -> ColumnKind:
    """How a field of this type is stored; an optional field is a nullable column of its type."""
    if get_origin(annotation) in (Union, UnionType):
        (annotation,) = [arg for arg in get_args(annotation) if arg is not NoneType]
    if annotation is bool:
        return "bool"
    literal_text = get_origin(annotation) is Literal and all(isinstance(a, str) for a in get_args(annotation))
    if annotation is str or literal_text:
        return "string"
    if get_origin(annotation) is tuple and get_args(annotation) == (str, Ellipsis):
        return "list"
    raise TypeError(f"no column type for a QAItem field of type {annotation!r}")


COLUMN_KINDS: dict[str, ColumnKind] = dict(
    sorted(
        ((name, column_kind(field.annotation)) for name, field in QAItem.model_fields.items()),
        key=lambda column: COLUMN_ORDER.index(column[1]),  # stable: field order within a kind
    )
)
ITEM_COLUMNS: tuple[str, ...] = tuple(COLUMN_KINDS)
STRING_COLUMNS: tuple[str, ...] = tuple(name for name, kind in COLUMN_KINDS.items() if kind == "string")
# A classification item's options; an original item's training wordings (canonical first, so
# `question` alone is the canonical wording for a trainer that ignores the list).
LIST_COLUMNS: tuple[str, ...] = tuple(name for name, kind in COLUMN_KINDS.items() if kind == "list")


def item_features() -> datasets.Features:
    import datasets  # ~1 s of import: only the writers and the loader need it, not every read

    feature_of = {
        "string": datasets.Value("string"),
        "list": datasets.Sequence(datasets.Value("string")),
        "bool": datasets.Value("bool"),
    }
    columns: dict[str, Any] = {name: feature_of[kind] for name, kind in COLUMN_KINDS.items()}
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
