"""A tiny MIMIC-CXR-JPG-shaped tree, written by the tests (no credentialed data involved).

`make_mimic_tree` writes `files/pNN/pSUBJECT/sSTUDY/*.jpg`, the reports `sSTUDY.txt` in five header
layouts, and the two gzipped CSVs with PhysioNet's columns; the last patient holds one study of
every broken kind. It returns what a correct reader must find, written out literally (not computed
with the source's own mapping), so the tests can catch a wrong mapping.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from medforget_data.dataset.schema import Finding

CHEXPERT_LABELS = (
    "Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Enlarged Cardiomediastinum", "Fracture",
    "Lung Lesion", "Lung Opacity", "No Finding", "Pleural Effusion", "Pleural Other", "Pneumonia",
    "Pneumothorax", "Support Devices",
)  # fmt: skip
CHEXPERT_COLUMNS = ("subject_id", "study_id", *CHEXPERT_LABELS)
METADATA_COLUMNS = (
    "dicom_id", "subject_id", "study_id", "PerformedProcedureStepDescription", "ViewPosition", "Rows",
    "Columns", "StudyDate", "StudyTime", "ProcedureCodeSequence_CodeMeaning", "ViewCodeSequence_CodeMeaning",
    "PatientOrientationCodeSequence_CodeMeaning",
)  # fmt: skip
TWO_VIEW = "CHEST (PA AND LAT)"
PORTABLE = "CHEST (PORTABLE AP)"

# (report text, expected sections of the SourceReport); "{procedure}" stands for the metadata's
# PerformedProcedureStepDescription, which names the exam when the report has no EXAMINATION header.
LAYOUTS: tuple[tuple[str, dict[str, str]], ...] = (
    (  # FINAL REPORT banner, every header, indented and padded as PhysioNet ships them
        "                                 FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n \n"
        " INDICATION:  ___F with cough  // eval for pneumonia\n \n TECHNIQUE:  Chest PA and lateral\n \n"
        " COMPARISON:  None.\n \n FINDINGS: \n \n There is a small left pleural effusion.  No\n"
        " pneumothorax.\n \n IMPRESSION: \n \n Small left pleural effusion.\n",
        {
            "EXAMINATION": "CHEST (PA AND LAT). Technique: Chest PA and lateral. Comparison: None.",
            "INDICATION": "___F with cough // eval for pneumonia",
            "FINDINGS": "There is a small left pleural effusion. No pneumothorax.",
            "IMPRESSION": "Small left pleural effusion.",
        },
    ),
    (  # mixed case, a space before the colon, no EXAMINATION header
        "FINAL REPORT\nIndication : shortness of breath\nComparison: ___\n"
        "Findings :\nHeart size is enlarged.\nImpression:\nCardiomegaly without edema.\n",
        {
            "EXAMINATION": "{procedure}. Comparison: ___.",
            "INDICATION": "shortness of breath",
            "FINDINGS": "Heart size is enlarged.",
            "IMPRESSION": "Cardiomegaly without edema.",
        },
    ),
    (  # a wet read before the final report; IMPRESSION before FINDINGS
        "WET READ: ___ ___ 2:15 PM\n  possible left lower lobe opacity\n"
        "______________________________________________________________________________\n"
        "                                 FINAL REPORT\nHISTORY:  Chest pain.\n\nIMPRESSION:\n"
        "No acute cardiopulmonary process.\n\nFINDINGS:\nLungs are clear. No focal consolidation.\n",
        {
            "EXAMINATION": "{procedure}.",
            "INDICATION": "Chest pain.",
            "FINDINGS": "Lungs are clear. No focal consolidation.",
            "IMPRESSION": "No acute cardiopulmonary process.",
        },
    ),
    (  # no headers at all
        "PA and lateral views of the chest. The lungs are clear. There is no pleural effusion or\n"
        "pneumothorax.\n",
        {
            "EXAMINATION": "{procedure}.",
            "FINDINGS": "PA and lateral views of the chest. The lungs are clear. "
            "There is no pleural effusion or pneumothorax.",
        },
    ),
    (  # bare upper-case headers, REASON FOR EXAM, CONCLUSION and a notification that is dropped
        "REASON FOR EXAM:  eval for line placement\n\nFINDINGS\nRight PICC line tip in the low SVC.\n\n"
        "CONCLUSION: Line in standard position.\nNOTIFICATION:  Dr. ___ was informed at 10:15.\n",
        {
            "EXAMINATION": "{procedure}.",
            "INDICATION": "eval for line placement",
            "FINDINGS": "Right PICC line tip in the low SVC.",
            "IMPRESSION": "Line in standard position.",
        },
    ),
)
# (label cells, expected findings): positive only, negative and uncertain are not findings.
LABELLINGS: tuple[tuple[dict[str, str], tuple[Finding, ...]], ...] = (
    (
        {"Pleural Effusion": "1.0", "Cardiomegaly": "0.0", "Edema": "-1.0"},
        (Finding(kind="pleural effusion"),),
    ),
    (
        {"Cardiomegaly": "1.0", "Support Devices": "1.0", "Lung Opacity": "-1.0"},
        (Finding(kind="cardiomegaly"), Finding(kind="medical device")),
    ),
    ({"No Finding": "1.0"}, ()),
    (
        {
            "Consolidation": "1.0",
            "Pneumonia": "1.0",
            "Atelectasis": "1.0",
            "Enlarged Cardiomediastinum": "1.0",
        },
        (Finding(kind="atelectasis"), Finding(kind="opacity")),
    ),
)
# Views per study, in dicom-id order: the lateral sorts first, yet the PA must be chosen.
VIEW_SETS: tuple[tuple[str, ...], ...] = (("LATERAL", "PA"), ("AP",), ("PA", "LATERAL"), ("AP", "LATERAL"))
EXPECTED_VIEW = {("LATERAL", "PA"): "PA", ("AP",): "AP", ("PA", "LATERAL"): "PA", ("AP", "LATERAL"): "AP"}

BROKEN_KINDS: tuple[str, ...] = (
    "missing report",
    "missing image",  # the folder has no JPEG
    "missing image (no folder)",  # a report whose study folder is absent
    "unreadable image",  # not a JPEG at all
    "unreadable image (truncated)",
    "study absent from the metadata CSV",
    "study absent from the CheXpert CSV",
    "malformed CheXpert labels",
    "no PA, AP or lateral image in the metadata CSV",
    "report has neither FINDINGS nor IMPRESSION",
)


@dataclass(frozen=True)
class ExpectedStudy:
    subject: str  # "p10000032"
    sections: dict[str, str]
    view: str
    date: str  # ISO
    findings: tuple[Finding, ...]
    image: str  # file name of the JPEG the source must choose


@dataclass
class MimicFixture:
    root: Path
    studies: dict[str, ExpectedStudy] = field(default_factory=dict)  # usable study id → expectation
    skipped: dict[str, int] = field(default_factory=dict)  # reason → count, as SourceLoad.skipped


def jpeg_bytes(seed: int, size: tuple[int, int] = (80, 64)) -> bytes:
    pixels = (np.random.default_rng(seed).random((size[1], size[0])) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def _write_gz_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, object]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


def _metadata_row(subject: int, study: int, dicom: str, view: str, date: str, procedure: str) -> dict:
    return {
        "dicom_id": dicom,
        "subject_id": subject,
        "study_id": study,
        "PerformedProcedureStepDescription": procedure,
        "ViewPosition": view,
        "Rows": 64,
        "Columns": 80,
        "StudyDate": date,
        "StudyTime": "101530.125",
        "ProcedureCodeSequence_CodeMeaning": procedure,
        "ViewCodeSequence_CodeMeaning": {"PA": "postero-anterior", "AP": "antero-posterior"}.get(
            view, "lateral"
        ),
        "PatientOrientationCodeSequence_CodeMeaning": "Erect",
    }


def make_mimic_tree(root: Path, patients: int = 14, studies_per_patient: int = 3) -> MimicFixture:
    """`patients` subjects with `studies_per_patient` usable studies each; the last subject also has
    one study of every kind in BROKEN_KINDS (and one usable study whose PA image is unreadable)."""
    fixture = MimicFixture(root=root)
    metadata: list[dict] = []
    labels: list[dict] = []
    skipped: dict[str, int] = {}
    counter = 0
    for p in range(patients):
        subject = 10000032 + p * 1117
        subject_dir = root / "files" / f"p{str(subject)[:2]}" / f"p{subject}"
        subject_dir.mkdir(parents=True)
        kinds: list[str | None] = [None] * studies_per_patient
        if p == patients - 1:
            kinds += [*BROKEN_KINDS, "PA unreadable, lateral used"]
        for s, kind in enumerate(kinds):
            counter += 1
            study = 50000000 + counter * 7919
            study_dir = subject_dir / f"s{study}"
            report, sections = LAYOUTS[counter % len(LAYOUTS)]
            cells, findings = LABELLINGS[counter % len(LABELLINGS)]
            views = VIEW_SETS[counter % len(VIEW_SETS)]
            if kind == "PA unreadable, lateral used":
                views = ("LATERAL", "PA")
            if kind == "no PA, AP or lateral image in the metadata CSV":
                views = ("",)
            if kind == "report has neither FINDINGS nor IMPRESSION":
                report = "FINAL REPORT\nINDICATION: cough\nCOMPARISON: None.\n"
            date = f"{2150 + p}{1 + s % 12:02d}{10 + s:02d}"
            procedure = TWO_VIEW if "LATERAL" in views else PORTABLE
            if kind != "missing image (no folder)":
                study_dir.mkdir()
            if kind != "missing report":
                study_dir.with_suffix(".txt").write_text(report, encoding="utf-8")
            for v, view in enumerate(views):
                dicom = f"{study:08x}-{v:04d}-{subject:08x}"
                image = study_dir / f"{dicom}.jpg"
                if kind == "unreadable image" or (kind == "PA unreadable, lateral used" and view == "PA"):
                    image.write_bytes(b"\xff\xd8 not a jpeg")
                elif kind == "unreadable image (truncated)":
                    data = jpeg_bytes(study + v)
                    image.write_bytes(data[: len(data) // 2])
                elif kind not in ("missing image", "missing image (no folder)"):
                    image.write_bytes(jpeg_bytes(study + v))
                if kind != "study absent from the metadata CSV":
                    metadata.append(_metadata_row(subject, study, dicom, view, date, procedure))
            if kind != "study absent from the CheXpert CSV":
                row = dict.fromkeys(CHEXPERT_LABELS, "")
                row.update({"Edema": "maybe"} if kind == "malformed CheXpert labels" else cells)
                labels.append({"subject_id": subject, "study_id": study, **row})
            if kind is None or kind == "PA unreadable, lateral used":
                expected_sections = dict(sections)
                expected_sections["EXAMINATION"] = sections["EXAMINATION"].replace("{procedure}", procedure)
                chosen_view = "lateral" if kind else EXPECTED_VIEW[views]
                chosen_index = views.index({"lateral": "LATERAL"}.get(chosen_view, chosen_view))
                fixture.studies[f"s{study}"] = ExpectedStudy(
                    subject=f"p{subject}",
                    sections=expected_sections,
                    view=chosen_view,
                    date=f"{date[:4]}-{date[4:6]}-{date[6:]}",
                    findings=findings,
                    image=f"{study:08x}-{chosen_index:04d}-{subject:08x}.jpg",
                )
            else:
                reason = kind.split(" (")[0]
                skipped[reason] = skipped.get(reason, 0) + 1
    _write_gz_csv(root / "mimic-cxr-2.0.0-metadata.csv.gz", METADATA_COLUMNS, metadata)
    _write_gz_csv(root / "mimic-cxr-2.0.0-chexpert.csv.gz", CHEXPERT_COLUMNS, labels)
    fixture.skipped = dict(sorted(skipped.items()))
    return fixture
