"""Export to the published MedForget layout, so the published CHIP and evaluation scripts read our data.

Per level: `<level>/forget_set_all.parquet` and `<level>/retain_set_all.parquet`, one row per
(image, section) group with the published columns:

* `image` — {"bytes", "path"} of the study radiograph; `image_path` — a stable relative name;
* `metadata` — JSON list of {"Question", "Answer"} (each entry also carries our item fields — id,
  task, options, fact, … — so the export round-trips; readers of the published format ignore them);
* `hierarchy_metadata` — JSON with institution_id, patient_id, study_id, section_name,
  hierarchy_level and ID (the group's id).

The published code has only forget and retain sets, so `retain_set_all` holds our retain and
sibling splits; `hierarchy_metadata.split` says which.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from medforget_data.atomic import atomic_folder
from medforget_data.constants import LEVELS
from medforget_data.features import ITEM_COLUMNS
from medforget_data.loading import split_path
from medforget_data.manifest import read_manifest
from medforget_data.schema import QAItem

PUBLISHED_FILES = {"forget_set_all.parquet": ("forget",), "retain_set_all.parquet": ("retain", "sibling")}
SCHEMA = pa.schema(
    [
        ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        ("image_path", pa.string()),
        ("metadata", pa.string()),
        ("hierarchy_metadata", pa.string()),
    ]
)


def _qa_entry(item: QAItem) -> dict:
    extra = item.model_dump(
        exclude={"question", "answer", "institution_id", "patient_id", "study_id", "section"}
    )
    return {"Question": item.question, "Answer": item.answer, **extra}


def _rows(dataset_dir: Path, level: str, splits: tuple[str, ...]) -> list[dict]:
    groups: dict[tuple[str, str, str], list[QAItem]] = defaultdict(list)
    images: dict[str, bytes] = {}
    for split in splits:
        table = pq.read_table(split_path(dataset_dir, level, split), columns=[*ITEM_COLUMNS, "image"])
        for row in table.to_pylist():
            item = QAItem(**{name: row[name] for name in ITEM_COLUMNS})
            images.setdefault(item.study_id, row["image"]["bytes"])
            groups[(split, item.study_id, item.section or "")].append(item)
    rows = []
    for (split, study_id, section), items in sorted(groups.items()):
        first = items[0]
        group_id = f"{study_id}/{section or 'study'}"
        rows.append(
            {
                "image": {"bytes": images[study_id], "path": f"{study_id}.png"},
                "image_path": f"images/{first.institution_id}/{first.patient_id}/{study_id}.png",
                "metadata": json.dumps([_qa_entry(item) for item in items], ensure_ascii=False),
                "hierarchy_metadata": json.dumps(
                    {
                        "institution_id": first.institution_id,
                        "patient_id": first.patient_id,
                        "study_id": study_id,
                        "section_name": section or None,
                        "hierarchy_level": level,
                        "ID": group_id,
                        "split": split,
                    }
                ),
            }
        )
    return rows


def export_published(dataset_dir: Path, out_dir: Path, overwrite: bool = False) -> dict[str, dict[str, int]]:
    """Write the published layout for every level; returns rows per level and file. Atomic."""
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    read_manifest(dataset_dir)  # a clear error for a folder that is not a MedForget build
    counts: dict[str, dict[str, int]] = {}
    with atomic_folder(out_dir, overwrite=overwrite) as staging:
        for level in LEVELS:
            (staging / level).mkdir()
            for name, splits in PUBLISHED_FILES.items():
                rows = _rows(dataset_dir, level, splits)
                pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMA), staging / level / name)
                counts.setdefault(level, {})[name] = len(rows)
    return counts


def read_published(out_dir: Path, level: str, name: str) -> list[QAItem]:
    """Every QA item of one exported file, rebuilt from `metadata` and `hierarchy_metadata`."""
    items = []
    for row in pq.read_table(Path(out_dir) / level / name).to_pylist():
        hierarchy = json.loads(row["hierarchy_metadata"])
        for entry in json.loads(row["metadata"]):
            fields = {k: v for k, v in entry.items() if k not in ("Question", "Answer")}
            items.append(
                QAItem(
                    question=entry["Question"],
                    answer=entry["Answer"],
                    institution_id=hierarchy["institution_id"],
                    patient_id=hierarchy["patient_id"],
                    study_id=hierarchy["study_id"],
                    section=hierarchy["section_name"],
                    **fields,
                )
            )
    return items
