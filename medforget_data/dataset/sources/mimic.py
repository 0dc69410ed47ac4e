"""MIMIC-CXR-JPG 2.x from a user's own credentialed copy (never shipped, never pushed publicly).

Real patient → study hierarchy from the tree `files/pNN/pSUBJECT/sSTUDY/*.jpg` with the report
`files/pNN/pSUBJECT/sSTUDY.txt`; view and date from the metadata CSV; findings from the CheXpert
label CSV. Institutions and identities are synthetic (MIMIC comes from one hospital).

A study that cannot be used is skipped and counted by reason, never a crash: no report, no
PA/AP/lateral image in the metadata, image missing or unreadable, study absent from a CSV,
malformed labels, or a report with neither FINDINGS nor IMPRESSION.
"""

from __future__ import annotations

import csv
import gzip
import sys
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

from PIL import Image

from medforget_data.dataset.rendering import keyed_rng
from medforget_data.dataset.schema import Finding, SourceReport
from medforget_data.dataset.sources.base import SourceLoad, SourceOptions
from medforget_data.dataset.sources.report_sections import parse_sections
from medforget_data.errors import MedForgetError

METADATA_CSV = "mimic-cxr-2.0.0-metadata.csv.gz"
CHEXPERT_CSV = "mimic-cxr-2.0.0-chexpert.csv.gz"
METADATA_COLUMNS: tuple[str, ...] = ("dicom_id", "subject_id", "study_id", "ViewPosition", "StudyDate")
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
# CheXpert label → finding kind of findings.FINDING_KINDS. "Enlarged Cardiomediastinum" and
# "Pleural Other" have no kind in the vocabulary and are not findings; "No Finding" is the
# absence of findings (an empty tuple).
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
# Label values: only a positive mention is a finding; a negated or uncertain one is not, and a
# blank cell means the report does not mention it.
LABEL_VALUES: dict[str, bool] = {"1.0": True, "1": True, "0.0": False, "0": False, "-1.0": False, "-1": False}
# ViewPosition → our view name, in order of preference for the study's image.
VIEW_NAMES: dict[str, str] = {"PA": "PA", "AP": "AP", "LATERAL": "lateral", "LL": "lateral"}
VIEW_PREFERENCE: tuple[str, ...] = tuple(VIEW_NAMES)

SKIP_NO_REPORT = "missing report"
SKIP_NO_VIEW = "no PA, AP or lateral image in the metadata CSV"
SKIP_IMAGE_MISSING = "missing image"
SKIP_IMAGE_UNREADABLE = "unreadable image"
SKIP_NO_METADATA = "study absent from the metadata CSV"
SKIP_NO_LABELS = "study absent from the CheXpert CSV"
SKIP_BAD_LABELS = "malformed CheXpert labels"
SKIP_NO_CONTENT = "report has neither FINDINGS nor IMPRESSION"


class ImageRow(NamedTuple):
    """The metadata CSV fields the source uses (a tuple: the full CSV has ~377k rows)."""

    dicom_id: str
    view_position: str
    study_date: str
    procedure: str


def chexpert_findings(row: dict[str, str]) -> tuple[Finding, ...]:
    """Positive CheXpert labels as findings, in CHEXPERT_TO_KIND order, each kind once.

    Raises ValueError on a cell that is not a CheXpert value (1.0, 0.0, -1.0 or blank).
    """
    for label in CHEXPERT_LABELS:
        value = (row.get(label) or "").strip()
        if value and value not in LABEL_VALUES:
            raise ValueError(f"{label}={value!r}")
    kinds: list[str] = []
    for label, kind in CHEXPERT_TO_KIND.items():
        if LABEL_VALUES.get((row.get(label) or "").strip(), False) and kind not in kinds:
            kinds.append(kind)
    return tuple(Finding(kind=kind) for kind in kinds)


def _csv_rows(path: Path, required: tuple[str, ...]) -> Iterator[dict[str, str]]:
    """Rows of a gzipped CSV, streamed; a missing, corrupt or wrong file is a one-line error."""
    if not path.is_file():
        raise MedForgetError(f"MIMIC-CXR file {path.name} is missing from {path.parent}")
    try:
        with gzip.open(path, "rt", encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in required if c not in (reader.fieldnames or ())]
            if missing:
                raise MedForgetError(f"{path.name} lacks the column(s) {', '.join(missing)}")
            yield from reader
    except (OSError, EOFError, zlib.error, UnicodeDecodeError, csv.Error) as error:
        raise MedForgetError(f"cannot read {path}: {error}") from None


def _readable(path: Path) -> bool:
    try:
        with Image.open(path) as image:
            image.draft("L", (64, 64))  # JPEG: decode the whole stream at 1/8 scale — fast, still complete
            image.load()
        return True
    except (OSError, ValueError, Image.DecompressionBombError):
        return False


def _iso_date(study_date: str) -> str | None:
    digits = study_date.strip().split(".")[0]  # pandas-written CSVs may say 21800506.0
    if len(digits) != 8 or not digits.isdigit():
        return None
    return f"{digits[:4]}-{digits[4:6]}-{digits[6:]}"


def _examination(sections: dict[str, str], procedure: str) -> str | None:
    """EXAMINATION, TECHNIQUE and COMPARISON as one readable paragraph.

    Without an EXAMINATION header the metadata's procedure description names the exam.
    """
    parts = []
    exam = sections.get("EXAMINATION") or procedure.strip()
    if exam:
        parts.append(_sentence(exam))
    if sections.get("TECHNIQUE"):
        parts.append(_sentence(f"Technique: {sections['TECHNIQUE']}"))
    if sections.get("COMPARISON"):
        parts.append(_sentence(f"Comparison: {sections['COMPARISON']}"))
    return " ".join(parts) or None


def _sentence(text: str) -> str:
    return text if text.endswith((".", "!", "?")) else f"{text}."


def _subjects(root: Path, options: SourceOptions) -> list[Path]:
    """Subject folders in path order; with max_patients, a seeded subset kept in path order."""
    subjects = sorted(p for p in (root / "files").glob("p*/p*") if p.is_dir())
    if options.max_patients is not None and len(subjects) > options.max_patients:
        rng = keyed_rng("mimic-cxr-patients", options.seed)
        chosen = sorted(int(i) for i in rng.choice(len(subjects), options.max_patients, replace=False))
        subjects = [subjects[i] for i in chosen]
    return subjects


def _study_paths(subject: Path) -> list[Path]:
    """Study folders and report files of a subject, as folder paths (a report may lack its folder)."""
    names = {p.name for p in subject.glob("s*") if p.is_dir()}
    names |= {p.stem for p in subject.glob("s*.txt") if p.is_file()}
    return [subject / name for name in sorted(names)]


class MimicCXRSource:
    name = "mimic-cxr"
    licence = "PhysioNet Credentialed Health Data License 1.5.0"
    description = (
        "MIMIC-CXR-JPG 2.x (Johnson et al., PhysioNet), read from the user's own credentialed copy. "
        "Patients and studies are MIMIC's own (subject → study); report sections are parsed from the free "
        "text (EXAMINATION also carries TECHNIQUE and COMPARISON; HISTORY and REASON FOR EXAM count as "
        "INDICATION; CONCLUSION as IMPRESSION); findings come from the CheXpert labels, positive only "
        "(negative and uncertain labels are not findings). The image of a study is its PA radiograph, else "
        "AP, else lateral; study dates are MIMIC's de-identified (shifted) dates. Institutions, names, "
        "birth dates and MRNs are synthetic (MIMIC comes from one hospital). This data is under the "
        "PhysioNet Credentialed Health Data License 1.5.0 and must not be shared: it is never pushed to a "
        "public repository."
    )
    citation = """\
@article{johnson2019mimiccxr,
  title = {MIMIC-CXR, a de-identified publicly available database of chest radiographs with free-text
           reports},
  author = {Johnson, Alistair E. W. and Pollard, Tom J. and Berkowitz, Seth J. and Greenbaum, Nathaniel R.
            and Lungren, Matthew P. and Deng, Chih-ying and Mark, Roger G. and Horng, Steven},
  journal = {Scientific Data},
  volume = {6},
  pages = {317},
  year = {2019},
  doi = {10.1038/s41597-019-0322-0}
}"""
    public_push_allowed = False
    real_hierarchy = True

    def load(self, options: SourceOptions) -> SourceLoad:
        if not options.mimic_root:
            raise MedForgetError(
                "source mimic-cxr needs --mimic-root DIR (a MIMIC-CXR-JPG 2.x tree with files/, "
                f"{METADATA_CSV} and {CHEXPERT_CSV})"
            )
        if options.max_patients is not None and options.max_patients < 1:
            raise MedForgetError(f"--max-patients must be at least 1, got {options.max_patients}")
        root = Path(options.mimic_root)
        if not (root / "files").is_dir():
            raise MedForgetError(f"{root} is not a MIMIC-CXR-JPG tree: {root / 'files'} is missing")
        subjects = _subjects(root, options)
        wanted = {s.name[1:] for s in subjects}  # subject ids as the CSVs write them
        metadata: dict[str, list[ImageRow]] = defaultdict(list)
        for row in _csv_rows(root / METADATA_CSV, METADATA_COLUMNS):
            if row["subject_id"] in wanted:
                metadata[f"s{row['study_id']}"].append(
                    ImageRow(
                        row["dicom_id"],
                        row["ViewPosition"].strip(),
                        row["StudyDate"],
                        row.get("PerformedProcedureStepDescription") or "",
                    )
                )
        # Label cells as interned tuples: a handful of distinct values over ~227k rows.
        labels: dict[str, tuple[str, ...]] = {
            f"s{row['study_id']}": tuple(sys.intern(row[label] or "") for label in CHEXPERT_LABELS)
            for row in _csv_rows(root / CHEXPERT_CSV, ("subject_id", "study_id", *CHEXPERT_LABELS))
            if row["subject_id"] in wanted
        }
        reports: list[SourceReport] = []
        skipped: Counter[str] = Counter()
        for subject in subjects:
            for study in _study_paths(subject):
                parsed = _study(study, metadata.get(study.name, []), labels.get(study.name))
                if isinstance(parsed, str):
                    skipped[parsed] += 1
                else:
                    reports.append(parsed)
        return SourceLoad.from_counter(reports, skipped)


def _study(study_dir: Path, rows: list[ImageRow], label_cells: tuple[str, ...] | None) -> SourceReport | str:
    """One study as a report, or the reason it is skipped."""
    report_path = study_dir.with_suffix(".txt")
    if not report_path.is_file():
        return SKIP_NO_REPORT
    if not rows:
        return SKIP_NO_METADATA
    if label_cells is None:
        return SKIP_NO_LABELS
    try:
        findings = chexpert_findings(dict(zip(CHEXPERT_LABELS, label_cells, strict=True)))
    except ValueError:
        return SKIP_BAD_LABELS
    try:
        sections = parse_sections(report_path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return SKIP_NO_REPORT
    if not sections.get("FINDINGS") and not sections.get("IMPRESSION"):
        return SKIP_NO_CONTENT
    candidates = sorted(
        (r for r in rows if r.view_position in VIEW_NAMES),
        key=lambda r: (VIEW_PREFERENCE.index(r.view_position), r.dicom_id),
    )
    if not candidates:
        return SKIP_NO_VIEW
    present = [(r, study_dir / f"{r.dicom_id}.jpg") for r in candidates]
    present = [(r, path) for r, path in present if path.is_file()]
    if not present:
        return SKIP_IMAGE_MISSING
    # The most preferred view that opens; a broken PA falls back to the AP or lateral image.
    chosen = next(((r, path) for r, path in present if _readable(path)), None)
    if chosen is None:
        return SKIP_IMAGE_UNREADABLE
    row, image = chosen
    ours: dict[str, str] = {}
    examination = _examination(sections, row.procedure)
    if examination:
        ours["EXAMINATION"] = examination
    for name in ("INDICATION", "FINDINGS", "IMPRESSION"):
        if sections.get(name):
            ours[name] = sections[name]
    return SourceReport(
        report_id=study_dir.name,
        sections=ours,
        findings=findings,
        view=VIEW_NAMES[row.view_position],
        patient_key=study_dir.parent.name,
        study_key=study_dir.name,
        study_date=_iso_date(row.study_date),
        image_path=str(image.resolve()),
    )


SOURCE = MimicCXRSource()
