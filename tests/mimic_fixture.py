"""A tiny MIMIC-CXR-JPG-shaped tree, written by the tests (no credentialed data involved)."""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from medforget_data.sources.mimic import CHEXPERT_LABELS

CHEXPERT_COLUMNS = ("subject_id", "study_id", *CHEXPERT_LABELS)
METADATA_COLUMNS = (
    "dicom_id",
    "subject_id",
    "study_id",
    "PerformedProcedureStepDescription",
    "ViewPosition",
    "Rows",
    "Columns",
    "StudyDate",
    "StudyTime",
    "ProcedureCodeSequence_CodeMeaning",
    "ViewCodeSequence_CodeMeaning",
    "PatientOrientationCodeSequence_CodeMeaning",
)

# Report layouts seen in MIMIC: banner + headers, lower-case headers with odd spacing, a wet read,
# headers in another order, and no headers at all.
REPORTS = (
    "                                 FINAL REPORT\n EXAMINATION:  CHEST (PA AND LAT)\n \n"
    " INDICATION:  ___F with cough  // eval for pneumonia\n \n TECHNIQUE:  Chest PA and lateral\n \n"
    " COMPARISON:  None.\n \n FINDINGS: \n \n There is a small left pleural effusion.  No pneumothorax.\n \n"
    " IMPRESSION: \n \n Small left pleural effusion.\n",
    "FINAL REPORT\nIndication : shortness of breath\nComparison: ___\nFindings :\nHeart size is enlarged.\n"
    "Impression:\nCardiomegaly without edema.\n",
    "WET READ: ___ ___ 2:15 PM\n  no acute process\n\nFINAL REPORT\nHISTORY:  Chest pain.\n\nIMPRESSION:\n"
    "No acute cardiopulmonary process.\n\nFINDINGS:\nLungs are clear. No focal consolidation.\n",
    "PA and lateral views of the chest. The lungs are clear. There is no pleural effusion or pneumothorax.\n",
)


@dataclass
class MimicFixture:
    root: Path
    studies: dict[str, str] = field(default_factory=dict)  # study id → subject id, for usable studies
    sections: dict[str, dict[str, str]] = field(default_factory=dict)  # study id → expected sections
    skipped: dict[str, int] = field(default_factory=dict)


def _jpeg(seed: int) -> bytes:
    pixels = (np.random.default_rng(seed).random((64, 80)) * 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, format="JPEG")
    return buffer.getvalue()


def _write_gz_csv(path: Path, columns: tuple[str, ...], rows: list[dict[str, object]]) -> None:
    with gzip.open(path, "wt", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


EXPECTED_SECTIONS = (
    {
        "INDICATION": "___F with cough // eval for pneumonia",
        "FINDINGS": "There is a small left pleural effusion. No pneumothorax.",
        "IMPRESSION": "Small left pleural effusion.",
    },
    {
        "INDICATION": "shortness of breath",
        "FINDINGS": "Heart size is enlarged.",
        "IMPRESSION": "Cardiomegaly without edema.",
    },
    {
        "INDICATION": "Chest pain.",
        "FINDINGS": "Lungs are clear. No focal consolidation.",
        "IMPRESSION": "No acute cardiopulmonary process.",
    },
    {
        "FINDINGS": "PA and lateral views of the chest. The lungs are clear. There is no pleural effusion or "
        "pneumothorax."
    },
)


def make_mimic_tree(root: Path, patients: int = 14, studies_per_patient: int = 3) -> MimicFixture:
    """`patients` subjects with `studies_per_patient` studies each; the last patient has four broken ones."""
    fixture = MimicFixture(root=root)
    metadata, labels = [], []
    skipped = {
        "missing report": 0,
        "missing or unreadable image": 0,
        "study absent from the metadata CSV": 0,
        "study absent from the CheXpert CSV": 0,
    }
    for p in range(patients):
        subject = 10000000 + p
        subject_dir = root / "files" / f"p{str(subject)[:2]}" / f"p{subject}"
        for s in range(4 if p == patients - 1 else studies_per_patient):
            study = 50000000 + p * 10 + s
            study_dir = subject_dir / f"s{study}"
            study_dir.mkdir(parents=True)
            layout = (p + s) % len(REPORTS)
            broken = p == patients - 1 and s < 4
            kind = (
                (
                    "missing report",
                    "missing or unreadable image",
                    "study absent from the metadata CSV",
                    "study absent from the CheXpert CSV",
                )[s]
                if broken
                else None
            )
            if kind != "missing report":
                study_dir.with_suffix(".txt").write_text(REPORTS[layout], encoding="utf-8")
            views = ("PA", "LATERAL") if s % 2 == 0 else ("AP",)
            for v, view in enumerate(views):
                dicom = f"{study:08d}-{v}"
                image = study_dir / f"{dicom}.jpg"
                image.write_bytes(
                    b"not a jpeg" if kind == "missing or unreadable image" else _jpeg(study * 10 + v)
                )
                if kind != "study absent from the metadata CSV":
                    metadata.append(
                        {
                            "dicom_id": dicom,
                            "subject_id": subject,
                            "study_id": study,
                            "PerformedProcedureStepDescription": "CHEST (PA AND LAT)",
                            "ViewPosition": view,
                            "Rows": 64,
                            "Columns": 80,
                            "StudyDate": f"2{180 + s:03d}0{1 + p % 9}1{s}",
                            "StudyTime": "101010.0",
                            "ProcedureCodeSequence_CodeMeaning": "CHEST",
                            "ViewCodeSequence_CodeMeaning": "postero-anterior",
                            "PatientOrientationCodeSequence_CodeMeaning": "Erect",
                        }
                    )
            if kind != "study absent from the CheXpert CSV":
                label = dict.fromkeys(CHEXPERT_COLUMNS[2:], "")
                label.update(
                    {"Pleural Effusion": "1.0", "Cardiomegaly": "0.0", "Edema": "-1.0"}
                    if layout == 0
                    else {"Cardiomegaly": "1.0", "Support Devices": "1.0"}
                    if layout == 1
                    else {"No Finding": "1.0"}
                )
                labels.append({"subject_id": subject, "study_id": study, **label})
            if kind:
                skipped[kind] += 1
            else:
                fixture.studies[f"s{study}"] = f"p{subject}"
                fixture.sections[f"s{study}"] = EXPECTED_SECTIONS[layout]
    _write_gz_csv(root / "mimic-cxr-2.0.0-metadata.csv.gz", METADATA_COLUMNS, metadata)
    _write_gz_csv(root / "mimic-cxr-2.0.0-chexpert.csv.gz", CHEXPERT_COLUMNS, labels)
    fixture.skipped = {k: v for k, v in skipped.items() if v}
    return fixture
