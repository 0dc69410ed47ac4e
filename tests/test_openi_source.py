from __future__ import annotations

import importlib.metadata

import pytest

from medforget_data.dataset.schema import Finding
from medforget_data.dataset.sources import SourceOptions, get_source, openi
from medforget_data.errors import MedForgetError

REPORT_XML = b"""<?xml version="1.0" encoding="utf-8"?>
<eCitation><MedlineCitation><Article><Abstract>
<AbstractText Label="COMPARISON">None.</AbstractText>
<AbstractText Label="INDICATION">Cough.</AbstractText>
<AbstractText Label="FINDINGS">Small   left pleural effusion. Heart size normal.</AbstractText>
<AbstractText Label="IMPRESSION">Left effusion.</AbstractText>
</Abstract></Article></MedlineCitation>
<MeSH><major>Pleural Effusion/left/small</major><major>Thoracic Vertebrae/degenerative</major></MeSH>
<parentImage id="x"><caption>Chest radiograph PA and lateral on XXXX.</caption></parentImage>
</eCitation>"""


@pytest.mark.parametrize(
    ("heading", "expected"),
    [
        ("Opacity/lung/base/left/mild", Finding(kind="opacity", side="left", zone="lower", severity="mild")),
        (
            "Calcified Granuloma/lung/upper lobe/right",
            Finding(kind="calcified granuloma", side="right", zone="upper"),
        ),
        ("Cardiomegaly/mild", Finding(kind="cardiomegaly", severity="mild")),
        ("Diaphragm/bilateral/flattened", None),
        (
            "Pleural Effusion/left/right/small",
            Finding(kind="pleural effusion", side="bilateral", severity="small"),
        ),
        ("Catheters, Indwelling/right", Finding(kind="medical device", side="right")),
    ],
)
def test_mesh_headings_map_to_findings(heading: str, expected: Finding | None) -> None:
    assert openi.finding_from_mesh(heading) == expected


def test_parse_report_sections_view_and_findings() -> None:
    report = openi.parse_report(REPORT_XML, "CXR1")
    assert not isinstance(report, str)
    assert report.view == "PA and lateral"
    assert report.sections == {
        "EXAMINATION": "Chest radiograph, PA and lateral views. Comparison: None.",
        "INDICATION": "Cough.",
        "FINDINGS": "Small left pleural effusion. Heart size normal.",
        "IMPRESSION": "Left effusion.",
    }
    assert report.findings == (Finding(kind="pleural effusion", side="left", severity="small"),)


def test_unusable_reports_give_a_reason() -> None:
    assert openi.parse_report(b"<not xml", "CXR2") == "unparseable XML"
    no_findings = REPORT_XML.replace(
        b'Label="FINDINGS">Small   left pleural effusion. Heart size normal.', b'Label="FINDINGS">'
    )
    assert openi.parse_report(no_findings, "CXR3") == "missing FINDINGS or IMPRESSION"


def test_openi_loads_the_wheel_file_and_counts_skips() -> None:
    loaded = get_source("openi").load(SourceOptions())
    # 3,955 reports ship in the wheel; those without FINDINGS or IMPRESSION are skipped and counted.
    assert len(loaded.reports) + sum(loaded.skipped.values()) == 3955
    assert loaded.skipped == {"missing FINDINGS or IMPRESSION": 3955 - len(loaded.reports)}
    assert len(loaded.reports) > 3000


def test_missing_provider_package_names_the_install_command(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(openi.importlib.metadata, "distribution", missing)
    with pytest.raises(MedForgetError, match=r"pip install --no-deps torchxrayvision==1\.5\.7"):
        openi.locate_reports_file()
