"""Export a built dataset folder to the published MedForget layout.

The published CHIP and evaluation scripts read `<LEVEL>_level/forget_set_all.parquet` and
`<LEVEL>_level/retain_set_all.parquet` (e.g. `patient_level/...`), one row per image and
hierarchy node, with the columns:

* `image` — {"bytes", "path"} of the study radiograph; `image_path` — `institution/patient/study.png`
  (the published reader falls back to these path parts when hierarchy ids are absent);
* `metadata` — JSON list of {"Question", "Answer"}; `Question` is the canonical wording. Each entry
  also carries our item fields (id, task, options, fact, fact_level, variant, group_id,
  image_answerable, and `train_questions`: the training rephrasings, canonical first) so the export
  round-trips — published readers ignore extra keys;
* `hierarchy_metadata` — JSON with institution_id, patient_id, study_id, section_name,
  hierarchy_level, ID, plus `split` (our split) and `target_level` (the config exported);
* `ID` — the image's id (our study id), a column as well, as the published CHIP reader expects.

A row groups the QA items of one image *filed under one node*: the published CHIP reader files
every QA pair of a row under the node that `hierarchy_level` (and `section_name`) names and reads
only the exported level and the one below it. So an item is filed at the exported level, or deeper
when its fact is deeper (a section's findings stay under their section, the children the published
CHIP's per-child directions are taken from): a hospital-name question asked on a forgotten study's
image sits under that study, as in our splits, not under its institution where the published reader
would skip it. A study's own facts (date, view, …) have no section node, so at the section level they
stay under their study: `section_level/retain_set_all` also holds rows whose `hierarchy_level` is
"study" (a fifth of them in a mini build), which the published CHIP reader, reading section rows
there, skips. They are always retain rows (a study fact is under no section target), and
`export.json` counts every file's rows per `hierarchy_level`. `fact_level` in each metadata entry
keeps the fact's own level.

The published code knows only forget and retain sets, so `retain_set_all` holds every other trained
item — our `retain` and `sibling` splits and the unlearner's halves of them (`unlearn_retain`,
`unlearn_sibling`) — told apart by `hierarchy_metadata.split`. The published evaluation reads the
first `max_samples` items of a file, so rows are written in a seeded order in which every prefix
holds each split in proportion to its size (a shuffle within each split, the splits interleaved).
Rephrased and holdout splits have no published counterpart and are not exported.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from medforget_data.constants import DEFAULT_SEED, LEVELS, UNLEARNER_SPLITS
from medforget_data.dataset.load import read_parquet, read_split
from medforget_data.dataset.manifest import read_manifest
from medforget_data.dataset.schema import QAItem
from medforget_data.errors import MedForgetError, check_choice
from medforget_data.io import atomic_folder, write_json

FORGET_FILE = "forget_set_all.parquet"
RETAIN_FILE = "retain_set_all.parquet"
PUBLISHED_FILES: dict[str, tuple[str, ...]] = {
    FORGET_FILE: ("forget",),
    RETAIN_FILE: ("retain", "sibling", *UNLEARNER_SPLITS),
}
EXPORT_INFO_FILE = "export.json"
HIERARCHY_KEYS: tuple[str, ...] = (
    "institution_id", "patient_id", "study_id", "section_name", "hierarchy_level", "ID",
)  # fmt: skip
# Item fields carried in each metadata entry beside Question/Answer (the rest live in hierarchy_metadata).
ENTRY_FIELDS: tuple[str, ...] = (
    "id", "task", "options", "fact", "fact_level", "variant", "group_id", "image_answerable",
    "train_questions",
)  # fmt: skip
SCHEMA = pa.schema(
    [
        ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        ("image_path", pa.string()),
        ("metadata", pa.string()),
        ("hierarchy_metadata", pa.string()),
        ("ID", pa.string()),
    ]
)


class FileCount(BaseModel):
    """What one exported file holds: rows (image × node), QA items, and rows per `hierarchy_level`
    (where a row is filed: the exported level's rows, deeper ones, and at the section level the
    study rows of a study's own facts)."""

    model_config = ConfigDict(frozen=True)

    rows: int
    items: int
    rows_by_hierarchy_level: dict[str, int] = {}


def level_dir(level: str) -> str:
    """The published folder name of a level: `patient` → `patient_level`."""
    return f"{level}_level"


def _image_suffix(data: bytes) -> str:
    return ".jpg" if data[:3] == b"\xff\xd8\xff" else ".png"


def _entry(item: QAItem) -> dict:
    fields = item.model_dump(include=set(ENTRY_FIELDS))
    return {"Question": item.question, "Answer": item.answer, **{k: fields[k] for k in ENTRY_FIELDS}}


def filed_level(item: QAItem, level: str) -> str:
    """The node level an exported item is filed under: the exported level, or its fact's if deeper."""
    deepest = LEVELS.index("section" if item.section else "study")
    return LEVELS[min(max(LEVELS.index(item.fact_level), LEVELS.index(level)), deepest)]


def interleave(by_split: dict[str, list], rng: np.random.Generator) -> list:
    """Each split shuffled, then merged so that every prefix holds each split in proportion.

    At each position the split furthest behind its share takes the next slot (the smallest
    (taken + ½) / size, ties to the first split): a prefix of n rows then holds within one row of
    n · size / total of every split.
    """
    queues = {name: [rows[i] for i in rng.permutation(len(rows))] for name, rows in by_split.items() if rows}
    taken = dict.fromkeys(queues, 0)
    merged = []
    for _ in range(sum(len(q) for q in queues.values())):
        name = min(
            (n for n in queues if taken[n] < len(queues[n])),
            key=lambda n: (taken[n] + 0.5) / len(queues[n]),
        )
        merged.append(queues[name][taken[name]])
        taken[name] += 1
    return merged


def _rows(dataset_dir: Path, level: str, splits: tuple[str, ...], seed: int) -> tuple[list[dict], FileCount]:
    """Published rows of the given splits of one level, in their seeded order, and their count."""
    # (split, study, filed level, section) → items, in split order; one image per study.
    groups: dict[tuple[str, str, str, str], list[QAItem]] = defaultdict(list)
    images: dict[str, bytes] = {}
    for split in splits:
        for item, image in read_split(dataset_dir, level, split, images=True):
            images.setdefault(item.study_id, image)
            groups[(split, item.study_id, filed_level(item, level), item.section or "")].append(item)
    by_split: dict[str, list[dict]] = {split: [] for split in splits}
    for (split, study_id, node_level, section), items in sorted(groups.items()):
        first = items[0]
        image_path = f"{first.institution_id}/{first.patient_id}/{study_id}{_image_suffix(images[study_id])}"
        hierarchy = {
            "institution_id": first.institution_id,
            "patient_id": first.patient_id,
            "study_id": study_id,
            "section_name": section or None,
            "hierarchy_level": node_level,
            "ID": study_id,
            "split": split,
            "target_level": level,
        }
        by_split[split].append(
            {
                "image": {"bytes": images[study_id], "path": image_path},
                "image_path": image_path,
                "metadata": json.dumps([_entry(item) for item in items], ensure_ascii=False),
                "hierarchy_metadata": json.dumps(hierarchy, ensure_ascii=False),
                "ID": study_id,
            }
        )
    files = tuple(PUBLISHED_FILES.values())
    rng = np.random.default_rng([seed, LEVELS.index(level), files.index(splits)])
    filed = Counter(node_level for _, _, node_level, _ in groups)
    count = FileCount(
        rows=len(groups),
        items=sum(len(items) for items in groups.values()),
        rows_by_hierarchy_level={node_level: filed[node_level] for node_level in LEVELS if filed[node_level]},
    )
    return interleave(by_split, rng), count


def export_published(
    dataset_dir: Path, out_dir: Path, overwrite: bool = False, seed: int = DEFAULT_SEED
) -> dict[str, dict[str, FileCount]]:
    """Write the published layout of every level into `out_dir` (atomically); level → file → count.

    `seed` orders the rows (see the module docstring); the same seed writes byte-identical files.
    """
    dataset_dir, out_dir = Path(dataset_dir), Path(out_dir)
    manifest = read_manifest(dataset_dir)  # a clear error for a folder that is not a MedForget build
    counts: dict[str, dict[str, FileCount]] = {}
    with atomic_folder(out_dir, overwrite=overwrite) as staging:
        for level in LEVELS:
            (staging / level_dir(level)).mkdir()
            for name, splits in PUBLISHED_FILES.items():
                rows, count = _rows(dataset_dir, level, splits, seed)
                table = pa.Table.from_pylist(rows, schema=SCHEMA)
                pq.write_table(table, staging / level_dir(level) / name, row_group_size=100)
                counts.setdefault(level, {})[name] = count
        # Provenance travels with the copy: a MIMIC export is as restricted as the build it came from.
        write_json(
            staging / EXPORT_INFO_FILE,
            {
                "format": "published",
                "source": manifest.build.source,
                "licence": manifest.licence,
                "public_push_allowed": manifest.public_push_allowed,
                "dataset_hash": manifest.dataset_hash,
                "retain_set_all": "retain, sibling and the unlearner's halves of them "
                "(hierarchy_metadata.split says which)",
                "row_order": f"seed {seed}: each split shuffled, interleaved in proportion to its size",
                "hierarchy_level": (
                    "the exported level, or the item's fact level when deeper; at the section level a "
                    "study's own facts (no section) stay under their study (retain rows with "
                    "hierarchy_level study, which the published CHIP reader skips there); "
                    "counts.<level>.<file>.rows_by_hierarchy_level says how many rows are filed where"
                ),
                "counts": {lv: {f: c.model_dump() for f, c in files.items()} for lv, files in counts.items()},
            },
        )
    return counts


def read_published(out_dir: Path, level: str, name: str) -> list[QAItem]:
    """Every QA item of one exported file, rebuilt from `metadata` and `hierarchy_metadata`."""
    check_choice("level", level, LEVELS)
    check_choice("published file", name, PUBLISHED_FILES)
    path = Path(out_dir) / level_dir(level) / name
    if not path.is_file():
        raise MedForgetError(f"{out_dir} has no published file {level_dir(level)}/{name}")
    items = []
    for row in read_parquet(path).to_pylist():
        hierarchy = json.loads(row["hierarchy_metadata"])
        for entry in json.loads(row["metadata"]):
            items.append(
                QAItem(
                    question=entry["Question"],
                    answer=entry["Answer"],
                    institution_id=hierarchy["institution_id"],
                    patient_id=hierarchy["patient_id"],
                    study_id=hierarchy["study_id"],
                    section=hierarchy["section_name"],
                    **{k: entry[k] for k in ENTRY_FIELDS},
                )
            )
    return items
