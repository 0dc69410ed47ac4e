"""The mimic-cxr source on a MIMIC-shaped fixture tree, its build, and the refusal of public pushes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from medforget_data.builders import build_dataset_folder, push_dataset_folder
from medforget_data.cli import main
from medforget_data.errors import MedForgetError
from medforget_data.invariants import verify_folder
from medforget_data.manifest import HIERARCHY_FILE, BuildConfig, read_manifest
from medforget_data.schema import Finding
from medforget_data.sources import SourceOptions, get_source
from medforget_data.sources.mimic import chexpert_findings
from medforget_data.sources.report_sections import parse_sections
from tests.mimic_fixture import REPORTS, make_mimic_tree


@pytest.fixture(scope="module")
def mimic_tree(tmp_path_factory: pytest.TempPathFactory):
    return make_mimic_tree(tmp_path_factory.mktemp("mimic") / "mimic-cxr-jpg")


@pytest.fixture(scope="module")
def mimic_build(mimic_tree, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mimic-build") / "ds"
    build_dataset_folder(
        BuildConfig(source="mimic-cxr", size="mini", mimic_root=str(mimic_tree.root)), out, progress=False
    )
    return out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            REPORTS[0],
            {
                "EXAMINATION": "CHEST (PA AND LAT)",
                "INDICATION": "___F with cough // eval for pneumonia",
                "TECHNIQUE": "Chest PA and lateral",
                "COMPARISON": "None.",
                "FINDINGS": "There is a small left pleural effusion. No pneumothorax.",
                "IMPRESSION": "Small left pleural effusion.",
            },
        ),
        ("Findings :\nclear.\nimpression:\nnormal.", {"FINDINGS": "clear.", "IMPRESSION": "normal."}),
        (
            "WET READ: ___ no acute process\nFINAL REPORT\nREASON FOR EXAM: fever\nCONCLUSION: pneumonia.",
            {"INDICATION": "fever", "IMPRESSION": "pneumonia."},
        ),
        ("The lungs are clear.\n", {"FINDINGS": "The lungs are clear."}),
        ("", {}),
    ],
)
def test_section_parser_handles_varied_headers(text: str, expected: dict[str, str]) -> None:
    assert parse_sections(text) == expected


def test_chexpert_labels_positive_only() -> None:
    row = {
        "Pleural Effusion": "1.0",
        "Cardiomegaly": "0.0",
        "Edema": "-1.0",
        "Pneumothorax": "",
        "Support Devices": "1.0",
        "Lung Opacity": "1.0",
        "Pneumonia": "1.0",
    }
    assert chexpert_findings(row) == (
        Finding(kind="opacity"),
        Finding(kind="pleural effusion"),
        Finding(kind="medical device"),
    )


def test_source_keeps_real_studies_and_counts_what_it_skips(mimic_tree) -> None:
    loaded = get_source("mimic-cxr").load(SourceOptions(mimic_root=str(mimic_tree.root)))
    assert (
        loaded.skipped
        == mimic_tree.skipped
        == {
            "missing report": 1,
            "missing or unreadable image": 1,
            "study absent from the metadata CSV": 1,
            "study absent from the CheXpert CSV": 1,
        }
    )
    assert {r.report_id: r.patient_key for r in loaded.reports} == mimic_tree.studies
    for report in loaded.reports:
        expected = mimic_tree.sections[report.report_id]
        assert {k: v for k, v in report.sections.items() if k != "EXAMINATION"} == expected
        assert report.image_path and Path(report.image_path).is_file()
        assert report.study_date and report.study_date[4] == "-"
    by_id = {r.report_id: r for r in loaded.reports}
    assert by_id["s50000000"].view == "PA and lateral" and by_id["s50000001"].view == "AP"
    assert by_id["s50000000"].findings == (Finding(kind="pleural effusion"),)


def test_max_patients_is_a_seeded_subset(mimic_tree) -> None:
    source = get_source("mimic-cxr")
    first = source.load(SourceOptions(mimic_root=str(mimic_tree.root), max_patients=5, seed=1))
    again = source.load(SourceOptions(mimic_root=str(mimic_tree.root), max_patients=5, seed=1))
    assert [r.report_id for r in first.reports] == [r.report_id for r in again.reports]
    assert len({r.patient_key for r in first.reports}) <= 5


def test_build_keeps_each_patients_studies_together(mimic_build: Path, mimic_tree) -> None:
    assert verify_folder(mimic_build) == []
    hierarchy = json.loads((mimic_build / HIERARCHY_FILE).read_text())
    studies = hierarchy["studies"] + hierarchy["holdout_studies"]
    patient_of_subject: dict[str, set[str]] = {}
    for study in studies:
        patient_of_subject.setdefault(mimic_tree.studies[study["report_id"]], set()).add(study["patient_id"])
    assert all(len(patients) == 1 for patients in patient_of_subject.values())
    manifest = read_manifest(mimic_build)
    assert manifest.licence.startswith("PhysioNet") and not manifest.public_push_allowed
    card = (mimic_build / "README.md").read_text()
    assert "PhysioNet Credentialed Health Data License" in card and "must not be shared" in card


def test_missing_root_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", "--source", "mimic-cxr", "--size", "mini", "--out", str(tmp_path / "X")]) == 2
    assert "needs --mimic-root" in capsys.readouterr().err
    assert (
        main(
            [
                "build",
                "--source",
                "mimic-cxr",
                "--mimic-root",
                str(tmp_path),
                "--size",
                "mini",
                "--out",
                str(tmp_path / "X"),
            ]
        )
        == 2
    )
    assert "is not a MIMIC-CXR-JPG tree" in capsys.readouterr().err
    assert not (tmp_path / "X").exists()


def test_public_push_of_mimic_data_is_refused(
    mimic_build: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(MedForgetError, match="refusing to push mimic-cxr data"):
        push_dataset_folder(mimic_build, "someone/mimic-medforget")
    with pytest.raises(MedForgetError, match="needs --allow-restricted"):
        push_dataset_folder(mimic_build, "someone/mimic-medforget", private=True)
    code = main(
        [
            "build",
            "--source",
            "mimic-cxr",
            "--mimic-root",
            str(Path(read_manifest(mimic_build).build.mimic_root)),
            "--size",
            "mini",
            "--out",
            str(tmp_path / "Y"),
            "--push",
            "someone/x",
        ]
    )
    assert code == 2 and "refusing to push mimic-cxr data" in capsys.readouterr().err
