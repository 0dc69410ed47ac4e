"""The published layout: the columns the published scripts read, and a lossless round trip."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from medforget_data.builders.card import parquet_name
from medforget_data.cli import main
from medforget_data.constants import CONFIGS, LEVEL_SPLITS, LEVELS, TRAIN_SPLITS
from medforget_data.dataset.export import (
    EXPORT_INFO_FILE,
    FORGET_FILE,
    HIERARCHY_KEYS,
    PUBLISHED_FILES,
    RETAIN_FILE,
    export_published,
    level_dir,
    read_published,
)
from medforget_data.dataset.features import item_features, item_row
from medforget_data.dataset.load import read_split_items, split_path
from medforget_data.dataset.manifest import MANIFEST_FILE, BuildConfig, Manifest
from medforget_data.dataset.schema import QAItem
from medforget_data.errors import MedForgetError

PUBLISHED_COLUMNS = ["image", "image_path", "metadata", "hierarchy_metadata", "ID"]


def _png(shade: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (8, 8), shade).save(buffer, format="PNG")
    return buffer.getvalue()


def _item(
    item_id: str, study: str, fact_level: str, section: str | None = None, patient: str = "p-1"
) -> QAItem:
    return QAItem(
        id=item_id,
        question=f"Question {item_id}?",
        answer=f"Answer {item_id} — ü",
        task="generation",
        fact_level=fact_level,
        fact=f"{fact_level}.x" if section is None else f"section.{section}",
        institution_id="inst-00",
        patient_id=patient,
        study_id=study,
        section=section,
        group_id=item_id,
    )


@pytest.fixture()
def handmade_dir(tmp_path: Path) -> Path:
    """A dataset folder written by hand in the builder's layout (manifest + every config's parquet)."""
    folder = tmp_path / "handmade"
    forget = [
        _item("f1", "study-a", "institution"),
        _item("f2", "study-a", "patient"),
        _item("f3", "study-a", "section", "FINDINGS"),
        _item("f4", "study-a", "section", "FINDINGS"),
        _item("f5", "study-a", "section", "IMPRESSION"),
    ]
    retain = [_item("r1", "study-b", "study", patient="p-2")]
    sibling = [_item("s1", "study-c", "study", patient="p-3")]
    by_split = {"forget": forget, "retain": retain, "sibling": sibling}
    images = {"study-a": _png(10), "study-b": _png(120), "study-c": _png(250)}
    schema = item_features().arrow_schema
    for config in CONFIGS:
        for split in LEVEL_SPLITS if config in LEVELS else TRAIN_SPLITS:
            rows = [item_row(i, images[i.study_id]) for i in by_split.get(split, [])]
            path = folder / parquet_name(config, split)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(pa.Table.from_pylist(rows, schema=schema), path)
    manifest = Manifest(
        build=BuildConfig(source="synthetic", size="mini"),
        licence="cc0-1.0",
        public_push_allowed=True,
        counts={},
        targets={},
        skipped_reports={},
        files={},
        dataset_hash="0" * 64,
    )
    (folder / MANIFEST_FILE).write_text(manifest.model_dump_json(), encoding="utf-8")
    return folder


def test_handmade_rows_group_items_per_image_and_node(handmade_dir: Path, tmp_path: Path) -> None:
    counts = export_published(handmade_dir, tmp_path / "out")
    assert {f: (c.rows, c.items) for f, c in counts["study"].items()} == {
        FORGET_FILE: (4, 5),
        RETAIN_FILE: (2, 2),
    }
    rows = pq.read_table(tmp_path / "out" / "study_level" / FORGET_FILE).to_pylist()
    nodes = [
        (
            json.loads(r["hierarchy_metadata"])["hierarchy_level"],
            json.loads(r["hierarchy_metadata"])["section_name"],
        )
        for r in rows
    ]
    assert nodes == [
        ("institution", None),
        ("patient", None),
        ("section", "FINDINGS"),
        ("section", "IMPRESSION"),
    ]
    findings = rows[2]
    assert [qa["Question"] for qa in json.loads(findings["metadata"])] == ["Question f3?", "Question f4?"]
    assert json.loads(findings["hierarchy_metadata"]) == {
        "institution_id": "inst-00",
        "patient_id": "p-1",
        "study_id": "study-a",
        "section_name": "FINDINGS",
        "hierarchy_level": "section",
        "ID": "study-a",
        "split": "forget",
        "target_level": "study",
    }
    assert findings["ID"] == "study-a" and findings["image_path"] == "inst-00/p-1/study-a.png"
    assert findings["image"] == {"bytes": _png(10), "path": "inst-00/p-1/study-a.png"}
    retain = pq.read_table(tmp_path / "out" / "study_level" / RETAIN_FILE).to_pylist()
    assert [json.loads(r["hierarchy_metadata"])["split"] for r in retain] == ["retain", "sibling"]
    assert [r["image"]["bytes"] for r in retain] == [_png(120), _png(250)]
    assert read_published(tmp_path / "out", "study", FORGET_FILE) == read_split_items(
        handmade_dir, "study", "forget"
    )


def test_round_trip_every_level(synthetic_mini_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "published"
    counts = export_published(synthetic_mini_dir, out)
    assert set(counts) == set(LEVELS)
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [EXPORT_INFO_FILE, *(level_dir(lv) for lv in LEVELS)]
    )
    for level in LEVELS:
        for name, splits in PUBLISHED_FILES.items():
            table = pq.read_table(out / level_dir(level) / name)
            assert table.column_names == PUBLISHED_COLUMNS
            originals = {s: read_split_items(synthetic_mini_dir, level, s) for s in splits}
            source_images = {
                row["study_id"]: row["image"]["bytes"]
                for s in splits
                for row in pq.read_table(
                    split_path(synthetic_mini_dir, level, s), columns=["study_id", "image"]
                ).to_pylist()
            }
            seen_nodes = set()
            for row in table.to_pylist():
                hierarchy = json.loads(row["hierarchy_metadata"])
                assert set(HIERARCHY_KEYS) <= set(hierarchy) and hierarchy["target_level"] == level
                assert row["ID"] == hierarchy["ID"] == hierarchy["study_id"]
                assert row["image_path"].split("/") == [
                    hierarchy["institution_id"],
                    hierarchy["patient_id"],
                    f"{hierarchy['study_id']}.png",
                ]
                assert row["image"]["bytes"] == source_images[hierarchy["study_id"]]
                Image.open(io.BytesIO(row["image"]["bytes"])).verify()
                entries = json.loads(row["metadata"])
                assert entries and all(
                    isinstance(e["Question"], str) and isinstance(e["Answer"], str) for e in entries
                )
                assert {e["fact_level"] for e in entries} == {hierarchy["hierarchy_level"]}
                assert (hierarchy["section_name"] is not None) == (hierarchy["hierarchy_level"] == "section")
                assert {e["id"] for e in entries} <= {i.id for i in originals[hierarchy["split"]]}
                node = (
                    hierarchy["split"],
                    row["ID"],
                    hierarchy["hierarchy_level"],
                    hierarchy["section_name"],
                )
                assert node not in seen_nodes
                seen_nodes.add(node)
            exported = sorted(read_published(out, level, name), key=lambda item: item.id)
            original = sorted((i for items in originals.values() for i in items), key=lambda item: item.id)
            assert exported == original
            assert counts[level][name].items == len(original) and counts[level][name].rows == table.num_rows
    info = json.loads((out / EXPORT_INFO_FILE).read_text())
    assert info["source"] == "synthetic" and info["public_push_allowed"] is True


def test_export_is_deterministic(handmade_dir: Path, tmp_path: Path) -> None:
    export_published(handmade_dir, tmp_path / "a")
    export_published(handmade_dir, tmp_path / "b")
    for level in LEVELS:
        for name in PUBLISHED_FILES:
            a = pq.read_table(tmp_path / "a" / level_dir(level) / name)
            assert a.equals(pq.read_table(tmp_path / "b" / level_dir(level) / name))


def test_a_broken_dataset_fails_cleanly_and_leaves_nothing(handmade_dir: Path, tmp_path: Path) -> None:
    split_path(handmade_dir, "section", "sibling").unlink()
    out = tmp_path / "out"
    with pytest.raises(MedForgetError, match="has no split section/sibling"):
        export_published(handmade_dir, out)
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]
    with pytest.raises(MedForgetError, match="not a MedForget dataset folder"):
        export_published(tmp_path / "nowhere", out)


def test_cli_export(handmade_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "published"
    assert main(["export", "--format", "published", str(handmade_dir), str(out)]) == 0
    assert "study_level: forget_set_all.parquet 4 rows / 5 items" in capsys.readouterr().out
    assert main(["export", "--format", "published", str(handmade_dir), str(out)]) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    shutil.rmtree(out / "study_level")
    assert main(["export", str(handmade_dir), str(out), "--overwrite"]) == 0
    assert (out / "study_level" / FORGET_FILE).is_file()
    assert main(["export", "--format", "tofu", str(handmade_dir), str(tmp_path / "o")]) == 2
    assert "unknown format 'tofu'; valid formats: published" in capsys.readouterr().err
    assert main(["export", str(tmp_path / "missing"), str(tmp_path / "o")]) == 2
    assert "is not a MedForget dataset folder" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
