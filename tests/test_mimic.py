"""The mimic-cxr source on a MIMIC-shaped fixture tree, its build, and the refusal of public pushes."""

from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from medforget_data.builders import build_dataset_folder, check_push_allowed, push_dataset_folder
from medforget_data.cli import main
from medforget_data.constants import LEVELS
from medforget_data.dataset.export import EXPORT_INFO_FILE, PUBLISHED_FILES, export_published, read_published
from medforget_data.dataset.invariants import verify_folder
from medforget_data.dataset.load import read_split_items
from medforget_data.dataset.manifest import HIERARCHY_FILE, BuildConfig, read_manifest
from medforget_data.dataset.schema import Finding
from medforget_data.dataset.sources import SourceOptions, get_source
from medforget_data.dataset.sources.mimic import CHEXPERT_LABELS as SOURCE_LABELS
from medforget_data.dataset.sources.mimic import chexpert_findings
from medforget_data.errors import MedForgetError
from tests.mimic_fixture import CHEXPERT_LABELS, MimicFixture, make_mimic_tree

MIMIC = get_source("mimic-cxr")


@pytest.fixture(scope="module")
def mimic_tree(tmp_path_factory: pytest.TempPathFactory) -> MimicFixture:
    return make_mimic_tree(tmp_path_factory.mktemp("mimic") / "mimic-cxr-jpg")


@pytest.fixture(scope="module")
def mimic_build(mimic_tree: MimicFixture, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mimic-build") / "ds"
    build_dataset_folder(BuildConfig(source="mimic-cxr", size="mini", mimic_root=str(mimic_tree.root)), out)
    return out


def _copy_tree(tree: MimicFixture, tmp_path: Path) -> Path:
    root = tmp_path / "copy"
    shutil.copytree(tree.root, root)
    return root


def test_source_contract() -> None:
    assert MIMIC.name == "mimic-cxr"
    assert MIMIC.licence == "PhysioNet Credentialed Health Data License 1.5.0"
    assert MIMIC.public_push_allowed is False and MIMIC.real_hierarchy is True
    assert "must not be shared" in MIMIC.description and "synthetic" in MIMIC.description
    assert SOURCE_LABELS == CHEXPERT_LABELS  # the fixture writes PhysioNet's 14 label columns


def test_every_usable_study_comes_out_as_expected(mimic_tree: MimicFixture) -> None:
    loaded = MIMIC.load(SourceOptions(mimic_root=str(mimic_tree.root)))
    by_id = {report.report_id: report for report in loaded.reports}
    assert set(by_id) == set(mimic_tree.studies)
    for study_id, expected in mimic_tree.studies.items():
        report = by_id[study_id]
        assert (report.patient_key, report.study_key) == (expected.subject, study_id)
        assert report.sections == expected.sections, study_id
        assert report.view == expected.view, study_id
        assert report.study_date == expected.date
        assert report.findings == expected.findings, study_id
        path = Path(report.image_path or "")
        assert path.is_absolute() and path.name == expected.image
        assert (
            path.parent
            == mimic_tree.root.resolve() / "files" / expected.subject[:3] / expected.subject / study_id
        )


def test_broken_studies_are_skipped_and_counted(mimic_tree: MimicFixture) -> None:
    loaded = MIMIC.load(SourceOptions(mimic_root=str(mimic_tree.root)))
    assert (
        loaded.skipped
        == mimic_tree.skipped
        == {
            "malformed CheXpert labels": 1,
            "missing image": 2,
            "missing report": 1,
            "no PA, AP or lateral image in the metadata CSV": 1,
            "report has neither FINDINGS nor IMPRESSION": 1,
            "study absent from the CheXpert CSV": 1,
            "study absent from the metadata CSV": 1,
            "unreadable image": 2,
        }
    )
    # A broken PA image falls back to the study's readable lateral one.
    assert [s.view for s in mimic_tree.studies.values()].count("lateral") == 1


def test_loading_is_deterministic(mimic_tree: MimicFixture) -> None:
    first = MIMIC.load(SourceOptions(mimic_root=str(mimic_tree.root)))
    assert first == MIMIC.load(SourceOptions(mimic_root=str(mimic_tree.root)))
    assert [r.report_id for r in first.reports] == sorted(
        mimic_tree.studies, key=lambda s: (mimic_tree.studies[s].subject, s)
    )


def test_max_patients_is_a_seeded_subset(mimic_tree: MimicFixture) -> None:
    def chosen(seed: int) -> tuple[str, ...]:
        loaded = MIMIC.load(SourceOptions(mimic_root=str(mimic_tree.root), max_patients=5, seed=seed))
        subjects = tuple(sorted({r.patient_key or "" for r in loaded.reports}))
        # Every usable study of a chosen subject, and nothing else.
        assert {r.report_id for r in loaded.reports} == {
            s for s, e in mimic_tree.studies.items() if e.subject in subjects
        }
        return subjects

    assert len(chosen(1)) == 5 and chosen(1) == chosen(1)
    assert len({chosen(seed) for seed in range(4)}) > 1


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "source mimic-cxr needs --mimic-root DIR"),
        ({"mimic_root": "/nonexistent/mimic"}, "is not a MIMIC-CXR-JPG tree"),
        ({"max_patients": 0}, "--max-patients must be at least 1"),
    ],
)
def test_bad_options_are_one_line_errors(mimic_tree: MimicFixture, options: dict, message: str) -> None:
    if "max_patients" in options:
        options = {**options, "mimic_root": str(mimic_tree.root)}
    with pytest.raises(MedForgetError, match=message) as caught:
        MIMIC.load(SourceOptions(**options))
    assert "\n" not in str(caught.value)


def test_missing_or_broken_csvs_are_one_line_errors(mimic_tree: MimicFixture, tmp_path: Path) -> None:
    root = _copy_tree(mimic_tree, tmp_path)
    metadata = root / "mimic-cxr-2.0.0-metadata.csv.gz"
    chexpert = root / "mimic-cxr-2.0.0-chexpert.csv.gz"
    chexpert.rename(root / "moved.csv.gz")
    with pytest.raises(MedForgetError, match="mimic-cxr-2.0.0-chexpert.csv.gz is missing"):
        MIMIC.load(SourceOptions(mimic_root=str(root)))
    (root / "moved.csv.gz").rename(chexpert)
    metadata.write_bytes(b"not gzip at all")
    with pytest.raises(MedForgetError, match="cannot read .*metadata.csv.gz"):
        MIMIC.load(SourceOptions(mimic_root=str(root)))
    with gzip.open(metadata, "wt") as handle:
        handle.write("dicom_id,subject_id,study_id\n")
    with pytest.raises(MedForgetError, match="lacks the column\\(s\\) ViewPosition, StudyDate"):
        MIMIC.load(SourceOptions(mimic_root=str(root)))


def test_chexpert_mapping_positive_only() -> None:
    row = {
        "Pleural Effusion": "1.0",
        "Cardiomegaly": "0.0",
        "Edema": "-1.0",
        "Pneumothorax": "",
        "Support Devices": "1.0",
        "Lung Opacity": "1.0",
        "Pneumonia": "1.0",
        "Pleural Other": "1.0",
    }
    assert chexpert_findings(row) == (
        Finding(kind="opacity"),
        Finding(kind="pleural effusion"),
        Finding(kind="medical device"),
    )
    assert chexpert_findings({"No Finding": "1.0"}) == ()
    with pytest.raises(ValueError, match="Edema"):
        chexpert_findings({"Edema": "maybe"})


def test_build_keeps_each_patients_studies_together(mimic_build: Path, mimic_tree: MimicFixture) -> None:
    assert verify_folder(mimic_build) == []
    hierarchy = json.loads((mimic_build / HIERARCHY_FILE).read_text())
    studies = hierarchy["studies"] + hierarchy["holdout_studies"]
    patients_of_subject: dict[str, set[str]] = {}
    subjects_of_patient: dict[str, set[str]] = {}
    for study in studies:
        subject = mimic_tree.studies[study["report_id"]].subject
        patients_of_subject.setdefault(subject, set()).add(study["patient_id"])
        subjects_of_patient.setdefault(study["patient_id"], set()).add(subject)
        assert study["date"] == mimic_tree.studies[study["report_id"]].date
    assert all(len(p) == 1 for p in patients_of_subject.values())
    assert all(len(s) == 1 for s in subjects_of_patient.values())
    assert any(len([s for s in studies if s["patient_id"] == p]) > 1 for p in subjects_of_patient)
    manifest = read_manifest(mimic_build)
    assert manifest.licence == MIMIC.licence and not manifest.public_push_allowed
    assert manifest.skipped_reports == mimic_tree.skipped
    card = (mimic_build / "README.md").read_text()
    assert "PhysioNet Credentialed Health Data License" in card and "must not be shared" in card
    image = pq.read_table(mimic_build / "train" / "train-00000-of-00001.parquet", columns=["image"])
    assert image.num_rows > 0


def test_cli_build_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--source", "mimic-cxr", "--size", "mini", "--out", str(tmp_path / "X")]) == 2
    assert "needs --mimic-root" in capsys.readouterr().err
    not_mimic = tmp_path / "downloads"  # beside the output: an output inside an input is refused first
    not_mimic.mkdir()
    args = ["build", "--source", "mimic-cxr", "--mimic-root", str(not_mimic), "--size", "mini"]
    assert main([*args, "--out", str(tmp_path / "X")]) == 2
    assert "is not a MIMIC-CXR-JPG tree" in capsys.readouterr().err
    assert not (tmp_path / "X").exists()


def test_public_push_of_mimic_data_is_refused(mimic_build: Path) -> None:
    with pytest.raises(MedForgetError, match="refusing to push mimic-cxr data .* to a public repository"):
        push_dataset_folder(mimic_build, "someone/mimic-medforget")
    # Private needs the explicit flag too; with it the licence check passes (the upload is not tried).
    with pytest.raises(MedForgetError, match="needs --allow-restricted"):
        push_dataset_folder(mimic_build, "someone/mimic-medforget", private=True)
    with pytest.raises(MedForgetError, match="refusing to push"):
        check_push_allowed(mimic_build, private=False, allow_restricted=True)
    check_push_allowed(mimic_build, private=True, allow_restricted=True)


def test_cli_push_of_mimic_data_is_refused(
    mimic_tree: MimicFixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["build", "--source", "mimic-cxr", "--mimic-root", str(mimic_tree.root), "--size", "mini"]
    assert main([*args, "--out", str(tmp_path / "Y"), "--push", "someone/x"]) == 2
    assert "refusing to push mimic-cxr data" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "Z"), "--push", "someone/x", "--private"]) == 2
    assert "needs --allow-restricted" in capsys.readouterr().err


def test_mimic_build_exports_to_the_published_layout(mimic_build: Path, tmp_path: Path) -> None:
    out = tmp_path / "published"
    export_published(mimic_build, out)
    for level in LEVELS:
        for name, splits in PUBLISHED_FILES.items():
            exported = sorted(read_published(out, level, name), key=lambda item: item.id)
            original = sorted(
                (i for s in splits for i in read_split_items(mimic_build, level, s)), key=lambda i: i.id
            )
            assert exported == original
    info = json.loads((out / EXPORT_INFO_FILE).read_text())
    assert info["licence"] == MIMIC.licence and info["public_push_allowed"] is False


def test_cli_build_passes_max_patients_and_seed(
    mimic_tree: MimicFixture, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "capped"
    args = ["build", "--source", "mimic-cxr", "--mimic-root", str(mimic_tree.root), "--size", "mini"]
    assert main([*args, "--max-patients", "12", "--seed", "3", "--out", str(out)]) == 0, (
        capsys.readouterr().err
    )
    assert read_manifest(out).build.max_patients == 12
    hierarchy = json.loads((out / HIERARCHY_FILE).read_text())
    report_ids = [s["report_id"] for s in hierarchy["studies"] + hierarchy["holdout_studies"]]
    loaded = MIMIC.load(SourceOptions(mimic_root=str(mimic_tree.root), max_patients=12, seed=3))
    assert set(report_ids) <= {r.report_id for r in loaded.reports}
    assert len({mimic_tree.studies[r].subject for r in report_ids}) <= 12
