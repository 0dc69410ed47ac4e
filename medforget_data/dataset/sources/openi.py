"""Open-i (Indiana University chest X-ray reports): the default, embedded source.

The reports ship inside the torchxrayvision wheel as `data/NLMCXR_reports.tgz`. We locate
the file through the package metadata and never import torchxrayvision: its imports pull
torchvision, which does not load beside the CPU torch build.
"""

from __future__ import annotations

import importlib.metadata
import tarfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

from medforget_data.dataset.schema import Finding, SourceReport
from medforget_data.dataset.sources.base import SourceLoad, SourceOptions
from medforget_data.errors import MedForgetError

PROVIDER_PACKAGE = "torchxrayvision"
PROVIDER_VERSION = "1.5.7"
REPORTS_FILE = "torchxrayvision/data/NLMCXR_reports.tgz"
INSTALL_HINT = f"pip install --no-deps {PROVIDER_PACKAGE}=={PROVIDER_VERSION}"
# No extra of the package can bring the file: an extra cannot say --no-deps, and the wheel's
# dependencies include torchvision, which does not load beside the CPU torch build. So a user who
# ran `pip install <repo>` (with or without extras) meets this first, often from `load_dataset()`
# with its defaults: the message names the source, the command and the data-free alternative.
MISSING_HINT = (
    f"the default source, openi, reads its reports from a data file of the {PROVIDER_PACKAGE} wheel "
    f"(only read, never imported); install it with: {INSTALL_HINT} (scripts/install.sh does), or use "
    'the synthetic source (--source synthetic; load_dataset(source="synthetic"))'
)

# MeSH major heading (before the first '/') -> finding kind of medforget_data.dataset.findings.
MESH_TO_KIND: dict[str, str] = {
    "Cardiomegaly": "cardiomegaly",
    "Pleural Effusion": "pleural effusion",
    "Opacity": "opacity",
    "Airspace Disease": "opacity",
    "Infiltrate": "opacity",
    "Consolidation": "opacity",
    "Pneumonia": "opacity",
    "Pulmonary Atelectasis": "atelectasis",
    "Nodule": "nodule",
    "Mass": "nodule",
    "Calcified Granuloma": "calcified granuloma",
    "Granuloma": "calcified granuloma",
    "Granulomatous Disease": "calcified granuloma",
    "Pneumothorax": "pneumothorax",
    "Pulmonary Edema": "pulmonary edema",
    "Pulmonary Congestion": "pulmonary edema",
    "Emphysema": "hyperinflation",
    "Pulmonary Emphysema": "hyperinflation",
    "Pulmonary Disease, Chronic Obstructive": "hyperinflation",
    "Catheters, Indwelling": "medical device",
    "Implanted Medical Device": "medical device",
    "Medical Device": "medical device",
    "Surgical Instruments": "medical device",
    "Tube, Inserted": "medical device",
    "Stents": "medical device",
    "Scoliosis": "scoliosis",
    "Fractures, Bone": "fracture",
}
_ZONES = {
    "upper lobe": "upper",
    "apex": "upper",
    "middle lobe": "middle",
    "lingula": "middle",
    "hilum": "middle",
    "lower lobe": "lower",
    "base": "lower",
}
_SEVERITIES = ("mild", "small", "moderate", "large", "severe")


def locate_reports_file() -> Path:
    """Path of NLMCXR_reports.tgz inside the installed torchxrayvision distribution."""
    try:
        distribution = importlib.metadata.distribution(PROVIDER_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        raise MedForgetError(f"{PROVIDER_PACKAGE} is not installed: {MISSING_HINT}") from None
    path = Path(str(distribution.locate_file(REPORTS_FILE)))
    if not path.is_file():
        raise MedForgetError(
            f"{path} is missing from {PROVIDER_PACKAGE} {distribution.version}: {MISSING_HINT}"
        )
    return path


def finding_from_mesh(heading: str) -> Finding | None:
    """'Opacity/lung/base/left/mild' -> Finding(opacity, left, lower, mild); unknown -> None."""
    parts = [part.strip() for part in heading.split("/")]
    kind = MESH_TO_KIND.get(parts[0])
    if kind is None:
        return None
    qualifiers = parts[1:]
    sides = {q for q in qualifiers if q in ("left", "right", "bilateral")}
    side = (
        "bilateral"
        if "bilateral" in sides or sides == {"left", "right"}
        else (sides.pop() if sides else None)
    )
    zone = next((_ZONES[q] for q in qualifiers if q in _ZONES), None)
    severity = next((q for q in qualifiers if q in _SEVERITIES), None)
    return Finding(kind=kind, side=side, zone=zone, severity=severity)


def _view(captions: list[str]) -> str:
    text = " ".join(captions)
    if "lateral" in text.lower() and ("PA" in text or "frontal" in text.lower()):
        return "PA and lateral"
    if "AP" in text:
        return "AP"
    return "PA"


def parse_report(xml_bytes: bytes, report_id: str) -> SourceReport | str:
    """One report, or the reason it cannot be used."""
    try:
        root = ET.fromstring(xml_bytes)
    except ET.ParseError:
        return "unparseable XML"
    texts = {node.get("Label"): " ".join((node.text or "").split()) for node in root.iter("AbstractText")}
    findings_text, impression = texts.get("FINDINGS", ""), texts.get("IMPRESSION", "")
    if not findings_text or not impression:
        return "missing FINDINGS or IMPRESSION"
    captions = [caption.text or "" for caption in root.iter("caption")]
    view = _view(captions)
    comparison = texts.get("COMPARISON", "") or "None."
    views = "views" if " and " in view else "view"
    sections = {"EXAMINATION": f"Chest radiograph, {view} {views}. Comparison: {comparison}"}
    if texts.get("INDICATION"):
        sections["INDICATION"] = texts["INDICATION"]
    sections["FINDINGS"] = findings_text
    sections["IMPRESSION"] = impression
    findings: list[Finding] = []
    mesh = root.find("MeSH")
    for heading in mesh.findall("major") if mesh is not None else []:
        finding = finding_from_mesh(heading.text or "")
        if finding is not None and finding not in findings:
            findings.append(finding)
    return SourceReport(report_id=report_id, sections=sections, findings=tuple(findings), view=view)


class OpenISource:
    name = "openi"
    licence = "cc-by-nc-nd-4.0"
    description = (
        "Report text and MeSH finding tags: the Indiana University Chest X-ray Collection (Open-i, "
        "Demner-Fushman et al., 2016; CC BY-NC-ND 4.0), read from the copy that ships inside the "
        f"`{PROVIDER_PACKAGE}` wheel. Institutions, patients, identities and dates are synthetic and "
        "assigned by seed; images are rendered deterministically from each report's findings."
    )
    citation = """\
@article{demnerfushman2016openi,
  title = {Preparing a collection of radiology examinations for distribution and retrieval},
  author = {Demner-Fushman, Dina and Kohli, Marc D. and Rosenman, Marc B. and Shooshan, Sonya E. and
            Rodriguez, Laritza and Antani, Sameer and Thoma, George R. and McDonald, Clement J.},
  journal = {Journal of the American Medical Informatics Association},
  volume = {23},
  number = {2},
  pages = {304--310},
  year = {2016},
  doi = {10.1093/jamia/ocv080}
}"""
    public_push_allowed = False  # NC-ND: never re-uploaded by default
    real_hierarchy = False

    def load(self, options: SourceOptions) -> SourceLoad:
        path = locate_reports_file()
        reports: list[SourceReport] = []
        skipped: Counter[str] = Counter()
        try:
            with tarfile.open(path, "r:gz") as archive:
                members = sorted(
                    (m for m in archive.getmembers() if m.name.endswith(".xml")),
                    key=lambda m: int(Path(m.name).stem),
                )
                for member in members:
                    handle = archive.extractfile(member)
                    parsed = parse_report(handle.read() if handle else b"", f"CXR{Path(member.name).stem}")
                    if isinstance(parsed, str):
                        skipped[parsed] += 1
                    else:
                        reports.append(parsed)
        except (tarfile.TarError, OSError, EOFError) as error:
            raise MedForgetError(f"cannot read {path}: {error}; reinstall with: {INSTALL_HINT}") from None
        return SourceLoad.from_counter(reports, skipped)


SOURCE = OpenISource()
