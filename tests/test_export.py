"""The published layout: the columns the published scripts read, and a lossless round trip."""

from __future__ import annotations

import io
import json
import math
import shutil
from pathlib import Path

import numpy as np
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
    interleave,
    level_dir,
    read_published,
)
from medforget_data.dataset.features import item_features, item_row
from medforget_data.dataset.load import read_split_items, split_path
from medforget_data.dataset.manifest import MANIFEST_FILE, BuildConfig, Manifest, read_manifest
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
    halves = [_item("u1", "study-d", "study", patient="p-4")]  # the unlearner's half: retain all the same
    by_split = {"forget": forget, "retain": retain, "sibling": sibling, "unlearn_retain": halves}
    images = {"study-a": _png(10), "study-b": _png(120), "study-c": _png(250), "study-d": _png(60)}
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
    # f1 (institution fact) and f2 (patient fact) asked on the forgotten study's image share its node.
    assert {f: (c.rows, c.items) for f, c in counts["study"].items()} == {
        FORGET_FILE: (3, 5),
        RETAIN_FILE: (3, 3),
    }
    rows = pq.read_table(tmp_path / "out" / "study_level" / FORGET_FILE).to_pylist()
    by_node = {
        (
            json.loads(r["hierarchy_metadata"])["hierarchy_level"],
            json.loads(r["hierarchy_metadata"])["section_name"],
        ): r
        for r in rows
    }
    assert sorted(by_node, key=str) == [
        ("section", "FINDINGS"),
        ("section", "IMPRESSION"),
        ("study", None),
    ]
    study = json.loads(by_node[("study", None)]["metadata"])
    assert [(qa["Question"], qa["fact_level"]) for qa in study] == [
        ("Question f1?", "institution"),
        ("Question f2?", "patient"),
    ]
    findings = by_node[("section", "FINDINGS")]
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
    # At the institution level the patient fact is deeper than the level: it stays under its patient.
    institution = pq.read_table(tmp_path / "out" / "institution_level" / FORGET_FILE).to_pylist()
    assert sorted(json.loads(r["hierarchy_metadata"])["hierarchy_level"] for r in institution) == [
        "institution",
        "patient",
        "section",
        "section",
    ]
    retain = pq.read_table(tmp_path / "out" / "study_level" / RETAIN_FILE).to_pylist()
    splits = {json.loads(r["hierarchy_metadata"])["split"]: r["image"]["bytes"] for r in retain}
    assert splits == {"retain": _png(120), "sibling": _png(250), "unlearn_retain": _png(60)}
    assert sorted(read_published(tmp_path / "out", "study", FORGET_FILE), key=lambda i: i.id) == (
        read_split_items(handmade_dir, "study", "forget")
    )


def test_interleave_keeps_every_prefix_in_proportion() -> None:
    merged = interleave({"a": [1, 2, 3, 4], "b": [10, 20]}, np.random.default_rng(0))
    # Hand-worked: the split with the smallest (taken + 1/2) / size goes next, ties to the first.
    assert ["b" if x >= 10 else "a" for x in merged] == ["a", "b", "a", "a", "b", "a"]
    assert sorted(merged) == [1, 2, 3, 4, 10, 20]


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
                for entry in entries:
                    # Filed at the exported level, or deeper where the fact is deeper; a study's own
                    # facts have no section node.
                    deeper = LEVELS.index(entry["fact_level"]) > LEVELS.index(level)
                    expected = entry["fact_level"] if deeper else level
                    if expected == "section" and entry["fact_level"] != "section":
                        expected = "study"
                    assert hierarchy["hierarchy_level"] == expected
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


def test_every_forget_item_is_filed_under_a_target_of_the_forgotten_level(
    synthetic_mini_dir: Path, tmp_path: Path
) -> None:
    out = tmp_path / "published"
    export_published(synthetic_mini_dir, out)
    targets = read_manifest(synthetic_mini_dir).targets
    for level in LEVELS:
        depth = LEVELS.index(level) + 1
        wanted = {tuple(t) for t in targets[level]}
        filed = 0
        for row in pq.read_table(out / level_dir(level) / FORGET_FILE).to_pylist():
            h = json.loads(row["hierarchy_metadata"])
            # The node the published reader files the row's QA pairs under, as a path from the root.
            path = (h["institution_id"], h["patient_id"], h["study_id"], h["section_name"])
            node = path[: LEVELS.index(h["hierarchy_level"]) + 1]
            assert len(node) >= depth and node[:depth] in wanted, (level, node)
            filed += len(json.loads(row["metadata"]))
        assert filed == len(read_split_items(synthetic_mini_dir, level, "forget"))


def test_every_prefix_of_the_retain_file_holds_siblings_in_proportion(
    synthetic_mini_dir: Path, tmp_path: Path
) -> None:
    export_published(synthetic_mini_dir, tmp_path / "a")
    export_published(synthetic_mini_dir, tmp_path / "b", seed=1)
    for level in LEVELS:
        rows = pq.read_table(tmp_path / "a" / level_dir(level) / RETAIN_FILE).to_pylist()
        splits = [json.loads(r["hierarchy_metadata"])["split"] for r in rows]
        share = splits.count("sibling") / len(splits)
        assert 0 < share < 1
        for n in range(1, len(splits) + 1):
            assert abs(splits[:n].count("sibling") - n * share) <= 1, (level, n)
        # The first rows a reader with a small max_samples would take hold a sibling.
        assert "sibling" in splits[: math.ceil(1 / share) + 1]
        other = pq.read_table(tmp_path / "b" / level_dir(level) / RETAIN_FILE).to_pylist()
        key = [r["hierarchy_metadata"] for r in rows]
        assert [r["hierarchy_metadata"] for r in other] != key and sorted(key) == sorted(
            r["hierarchy_metadata"] for r in other
        )


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
    assert "study_level: forget_set_all.parquet 3 rows / 5 items" in capsys.readouterr().out
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
