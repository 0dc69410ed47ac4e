"""MIMIC-CXR-JPG 2.x from a user's own credentialed copy (never shipped, never pushed publicly).

Real patient → study hierarchy from the tree `files/pNN/pSUBJECT/sSTUDY/*.jpg` with the report
`files/pNN/pSUBJECT/sSTUDY.txt`; view and date from the metadata CSV; findings from the CheXpert
label CSV. Institutions and identities are synthetic (MIMIC comes from one hospital).
"""

from __future__ import annotations

import csv
import gzip
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from medforget_data.errors import MedForgetError
from medforget_data.rendering import keyed_rng
from medforget_data.schema import Finding, SourceReport
from medforget_data.sources.base import SourceLoad, SourceOptions
from medforget_data.sources.report_sections import parse_sections

METADATA_CSV = "mimic-cxr-2.0.0-metadata.csv.gz"
CHEXPERT_CSV = "mimic-cxr-2.0.0-chexpert.csv.gz"
# CheXpert label → finding kind; labels absent here have no kind in the vocabulary (documented, ignored).
CHEXPERT_TO_KIND: dict[str, str] = {
    "Atelectasis": "atelectasis",
    "Cardiomegaly": "cardiomegaly",
    "Consolidation": "opacity",
    "Edema": "pulmonary edema",
    "Fracture": "fracture",
    "Lung Lesion": "nodule",
    "Lung Opacity": "opacity",
    "Pleural Effusion": "pleural effusion",
    "Pneumonia": "opacity",
    "Pneumothorax": "pneumothorax",
    "Support Devices": "medical device",
}
CHEXPERT_LABELS: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Enlarged Cardiomediastinum",
    "Fracture",
    "Lung Lesion",
    "Lung Opacity",
    "No Finding",
    "Pleural Effusion",
    "Pleural Other",
    "Pneumonia",
    "Pneumothorax",
    "Support Devices",
)
POSITIVE = 1.0  # 0.0 is negative and -1.0 uncertain: neither makes a finding; blank means not mentioned
VIEW_PREFERENCE: tuple[str, ...] = ("PA", "AP", "LATERAL", "LL")
VIEW_NAMES = {"PA": "PA", "AP": "AP", "LATERAL": "lateral", "LL": "lateral"}


def chexpert_findings(row: dict[str, str]) -> tuple[Finding, ...]:
    kinds: list[str] = []
    for label, kind in CHEXPERT_TO_KIND.items():
        value = (row.get(label) or "").strip()
        if value and float(value) == POSITIVE and kind not in kinds:
            kinds.append(kind)
    return tuple(Finding(kind=kind) for kind in kinds)


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise MedForgetError(f"MIMIC-CXR file {path.name} is missing from {path.parent}")
    with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _readable(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.load()
        return True
    except (OSError, UnidentifiedImageError):
        return False


def _examination(sections: dict[str, str], view: str) -> str:
    parts = [sections.get("EXAMINATION") or f"Chest radiograph, {view}."]
    if sections.get("TECHNIQUE"):
        parts.append(f"Technique: {sections['TECHNIQUE']}")
    parts.append(f"Comparison: {sections.get('COMPARISON') or 'None.'}")
    return " ".join(parts)


class MimicCXRSource:
    name = "mimic-cxr"
    licence = "PhysioNet Credentialed Health Data License 1.5.0"
    description = (
        "MIMIC-CXR-JPG 2.x (Johnson et al., PhysioNet), read from the user's own credentialed copy: real "
        "patient → study hierarchy, report sections parsed from the free text, findings from the CheXpert "
        "labels (positive only; negative and uncertain labels are not findings). Institutions and all "
        "identities are synthetic (MIMIC comes from one hospital). This data must not be shared: it is "
        "never pushed to a public repository."
    )
    public_push_allowed = False
    real_hierarchy = True

    def load(self, options: SourceOptions) -> SourceLoad:
        if not options.mimic_root:
            raise MedForgetError(
                "source mimic-cxr needs --mimic-root DIR (a MIMIC-CXR-JPG 2.x tree with files/ "
                f"and {METADATA_CSV}, {CHEXPERT_CSV})"
            )
        root = Path(options.mimic_root)
        if not (root / "files").is_dir():
            raise MedForgetError(f"{root} is not a MIMIC-CXR-JPG tree: files/ is missing")
        metadata: dict[str, list[dict[str, str]]] = defaultdict(list)
        for row in _read_csv(root / METADATA_CSV):
            metadata[f"s{row['study_id']}"].append(row)
        labels = {f"s{row['study_id']}": row for row in _read_csv(root / CHEXPERT_CSV)}
        subjects = sorted(p for p in (root / "files").glob("p*/p*") if p.is_dir())
        if options.max_patients is not None and len(subjects) > options.max_patients:
            rng: np.random.Generator = keyed_rng("mimic-patients", options.seed)
            chosen = sorted(rng.choice(len(subjects), options.max_patients, replace=False))
            subjects = [subjects[i] for i in chosen]
        reports: list[SourceReport] = []
        skipped: Counter[str] = Counter()
        for subject in subjects:
            for study_dir in sorted(p for p in subject.glob("s*") if p.is_dir()):
                parsed = self._study(study_dir, metadata.get(study_dir.name), labels.get(study_dir.name))
                if isinstance(parsed, str):
                    skipped[parsed] += 1
                else:
                    reports.append(parsed)
        return SourceLoad.from_counter(reports, skipped)

    def _study(
        self, study_dir: Path, rows: list[dict[str, str]] | None, label_row: dict[str, str] | None
    ) -> SourceReport | str:
        report_path = study_dir.with_suffix(".txt")
        if not report_path.is_file():
            return "missing report"
        if not rows:
            return "study absent from the metadata CSV"
        if label_row is None:
            return "study absent from the CheXpert CSV"
        sections = parse_sections(report_path.read_text(encoding="utf-8", errors="replace"))
        if not sections.get("FINDINGS") and not sections.get("IMPRESSION"):
            return "report has neither FINDINGS nor IMPRESSION"
        candidates = sorted(
            rows,
            key=lambda r: (
                VIEW_PREFERENCE.index(r["ViewPosition"]) if r["ViewPosition"] in VIEW_PREFERENCE else 99,
                r["dicom_id"],
            ),
        )
        image = next(
            (
                study_dir / f"{r['dicom_id']}.jpg"
                for r in candidates
                if _readable(study_dir / f"{r['dicom_id']}.jpg")
            ),
            None,
        )
        if image is None:
            return "missing or unreadable image"
        chosen = next(r for r in candidates if r["dicom_id"] == image.stem)
        positions = {r["ViewPosition"] for r in rows}
        view = VIEW_NAMES.get(chosen["ViewPosition"], "PA")
        if view == "PA" and positions & {"LATERAL", "LL"}:
            view = "PA and lateral"
        date = chosen.get("StudyDate", "")
        iso_date = f"{date[:4]}-{date[4:6]}-{date[6:8]}" if len(date) >= 8 and date[:8].isdigit() else None
        ours = {"EXAMINATION": _examination(sections, view)}
        for name in ("INDICATION", "FINDINGS", "IMPRESSION"):
            if sections.get(name):
                ours[name] = sections[name]
        return SourceReport(
            report_id=study_dir.name,
            sections=ours,
            findings=chexpert_findings(label_row),
            view=view,
            patient_key=study_dir.parent.name,
            study_key=study_dir.name,
            study_date=iso_date,
            image_path=str(image.resolve()),
        )


SOURCE = MimicCXRSource()
