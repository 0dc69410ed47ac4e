"""The code's shape: light layers stay light, one place per concept (the import graph's rules are in
test_import_graph.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from medforget_data import progress
from medforget_data.constants import Variant
from medforget_data.dataset.features import ITEM_COLUMNS, STRING_COLUMNS, column_kind, item_features
from medforget_data.dataset.load import read_split, read_split_items, split_path
from medforget_data.dataset.manifest import HIERARCHY_FILE
from medforget_data.dataset.schema import Hierarchy, Institution, QAItem
from medforget_data.errors import MedForgetError
from medforget_data.io import atomic_write_text, read_model, write_model
from medforget_data.scoring.results import (
    Attacks,
    ForgetQuality,
    ItemScore,
    Membership,
    Reconstruction,
    Results,
    read_results,
    write_results,
)
from medforget_data.scoring.submission import SubmissionMetadata

REPO = Path(__file__).resolve().parents[1]

IMPORT_EVERYTHING = """
import importlib, json, pkgutil, sys
import medforget_data.dataset, medforget_data.scoring
imported = []
for package in (medforget_data.dataset, medforget_data.scoring):
    for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(module.name)
        imported.append(module.name)
print(json.dumps({"imported": imported, "heavy": [m for m in ("torch", "transformers") if m in sys.modules]}))
"""


def test_scoring_and_dataset_import_without_torch_or_transformers() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_EVERYTHING], capture_output=True, text=True, check=True, cwd=REPO
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    # the walk reached the subpackages and the modules that read and write folders
    for name in (
        "medforget_data.dataset.sources.openi",
        "medforget_data.dataset.rendering.radiograph",
        "medforget_data.dataset.load",
        "medforget_data.dataset.export",
        "medforget_data.scoring.score_file",
        "medforget_data.scoring.judge_llm",
    ):
        assert name in report["imported"]
    assert report["heavy"] == []


# ----- one hierarchy reader


def small_hierarchy() -> Hierarchy:
    return Hierarchy(
        institutions=(
            Institution(id="inst-00", name="North General", health_system="Alpha Health"),
            Institution(id="inst-01", name="South Clinic", health_system="Alpha Health"),
            Institution(id="inst-02", name="East Hospital", health_system="Beta Care"),
        ),
        patients=(),
        studies=(),
    )


def test_hierarchy_read_and_health_systems(tmp_path: Path) -> None:
    write_model(tmp_path / HIERARCHY_FILE, small_hierarchy())
    read = Hierarchy.read(tmp_path)
    assert read == small_hierarchy()
    assert read.health_systems() == {
        "inst-00": "Alpha Health",
        "inst-01": "Alpha Health",
        "inst-02": "Beta Care",
    }
    with pytest.raises(MedForgetError, match=f"{HIERARCHY_FILE}.* does not exist"):
        Hierarchy.read(tmp_path / "elsewhere")


def test_health_systems_of_a_build_match_its_raw_json(synthetic_mini_dir: Path) -> None:
    raw = json.loads((synthetic_mini_dir / HIERARCHY_FILE).read_text(encoding="utf-8"))
    expected = {i["id"]: i["health_system"] for i in raw["institutions"]}
    assert Hierarchy.read(synthetic_mini_dir).health_systems() == expected
    assert len(set(expected.values())) >= 2


def test_one_split_reader_with_and_without_images(synthetic_mini_dir: Path) -> None:
    rows = read_split(synthetic_mini_dir, "patient", "forget", images=True)
    assert [r.item for r in rows] == read_split_items(synthetic_mini_dir, "patient", "forget")
    assert all(r.image[:8] == b"\x89PNG\r\n\x1a\n" or r.image[:3] == b"\xff\xd8\xff" for r in rows)
    assert all(r.image is None for r in read_split(synthetic_mini_dir, "patient", "forget"))
    with pytest.raises(MedForgetError, match="has no split patient/nowhere"):
        read_split(synthetic_mini_dir, "patient", "nowhere")


# ----- columns declared once, as QAItem's fields


def test_the_columns_are_qaitem_fields_in_the_written_order(synthetic_mini_dir: Path) -> None:
    assert set(ITEM_COLUMNS) == set(QAItem.model_fields)
    written = pq.read_schema(split_path(synthetic_mini_dir, "patient", "forget"))
    assert written.names == [*ITEM_COLUMNS, "image"]
    assert written.remove_metadata() == item_features().arrow_schema.remove_metadata()
    assert [written.field(n).type for n in STRING_COLUMNS] == [pa.string()] * len(STRING_COLUMNS)
    assert written.field("image_answerable").type == pa.bool_()


def test_a_field_with_no_column_type_is_named() -> None:
    assert column_kind(tuple[str, ...]) == "list" and column_kind(Variant | None) == "string"
    with pytest.raises(TypeError, match="no column type for a QAItem field of type <class 'int'>"):
        column_kind(int)


# ----- the one atomic write


def test_atomic_write_replaces_whole_and_leaves_nothing_when_it_fails(tmp_path: Path) -> None:
    target = tmp_path / "out" / "results.json"
    atomic_write_text(target, "first\n")
    assert target.read_text(encoding="utf-8") == "first\n"
    with pytest.raises(UnicodeEncodeError):
        atomic_write_text(target, "half written \ud800 then a character UTF-8 cannot encode")
    assert target.read_text(encoding="utf-8") == "first\n"  # the old file, whole
    assert sorted(p.name for p in target.parent.iterdir()) == ["results.json"]  # no temporary left


def test_read_model_names_another_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"schema_version": 1, "attacks": {"membership": {}}}), encoding="utf-8")
    with pytest.raises(MedForgetError, match="schema version 1; this medforget reads version 2"):
        read_results(path)
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(MedForgetError, match="not valid JSON"):
        read_model(path, Hierarchy, "hierarchy")


# ----- typed results


def attacked_results() -> Results:
    item = ItemScore(
        id="s:patient.name:cloze", split="forget", task="cloze", image_answerable=False, score=1.0
    )
    return Results(
        dataset_hash="ab" * 32,
        level="patient",
        metadata=SubmissionMetadata(method="ga", model="tiny", level="patient", seed=0, contact="test"),
        judge={"name": "offline", "version": "1"},
        scores={},
        gaps={},
        unscored=0,
        items=[item],
        attacks=Attacks(
            membership=Membership(auc={"loss": 0.75, "zlib": 0.5}, forget_loss={item.id: -0.25}),
            reconstruction=Reconstruction(depths=["none", "patient"], recovery={"none": 0.5, "patient": 1.0}),
            forget_quality=ForgetQuality(privleak={"loss": 0.5}, ks_p_value=0.125, score_distance=0.25),
        ),
        timings={"unlearn": 1.5},
    )


def test_typed_results_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "ga.json"
    write_results(path, attacked_results())
    assert read_results(path) == attacked_results()
    on_disk = json.loads(path.read_text(encoding="utf-8"))
    assert on_disk["schema_version"] == 2
    assert on_disk["attacks"]["membership"]["auc"] == {"loss": 0.75, "zlib": 0.5}
    assert on_disk["attacks"]["forget_quality"]["ks_p_value"] == 0.125
    on_disk["attacks"]["membership"]["typo"] = 1.0  # sections are strict: a misspelt key is an error
    path.write_text(json.dumps(on_disk), encoding="utf-8")
    with pytest.raises(MedForgetError, match="attacks.membership.typo"):
        read_results(path)


# ----- one progress switch


def test_progress_quiet_nests_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(progress, "_enabled", True)  # the test session itself runs quiet (conftest)
    assert not progress.bar(range(3)).disable
    with progress.quiet():
        with progress.quiet():
            assert progress.bar(range(3)).disable
        assert not progress.enabled()  # the inner block restored the outer one's state, not "on"
    assert progress.enabled()
