"""The published layout round-trips every QA item and its hierarchy ids."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from medforget_data.cli import main
from medforget_data.constants import LEVELS
from medforget_data.export import PUBLISHED_FILES, export_published, read_published
from medforget_data.loading import read_split_items


def test_round_trip_every_level(synthetic_mini_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "published"
    counts = export_published(synthetic_mini_dir, out)
    assert set(counts) == set(LEVELS)
    for level in LEVELS:
        for name, splits in PUBLISHED_FILES.items():
            table = pq.read_table(out / level / name)
            assert table.column_names == ["image", "image_path", "metadata", "hierarchy_metadata"]
            first = table.slice(0, 1).to_pylist()[0]
            hierarchy = json.loads(first["hierarchy_metadata"])
            assert (
                set(hierarchy)
                >= {"institution_id", "patient_id", "study_id", "section_name", "hierarchy_level", "ID"}
                and hierarchy["hierarchy_level"] == level
            )
            assert first["image"]["bytes"].startswith(b"\x89PNG")
            assert all({"Question", "Answer"} <= set(qa) for qa in json.loads(first["metadata"]))
            exported = sorted(read_published(out, level, name), key=lambda item: item.id)
            original = sorted(
                (i for s in splits for i in read_split_items(synthetic_mini_dir, level, s)),
                key=lambda item: item.id,
            )
            assert exported == original


def test_cli_export_refuses_existing_output_and_unknown_formats(
    synthetic_mini_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "published"
    assert main(["export", "--format", "published", str(synthetic_mini_dir), str(out)]) == 0
    assert main(["export", "--format", "published", str(synthetic_mini_dir), str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(["export", "--format", "tofu", str(synthetic_mini_dir), str(tmp_path / "o")]) == 2
    assert "unknown format 'tofu'; valid formats: published" in capsys.readouterr().err
