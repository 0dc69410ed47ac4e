"""The free-text report section parser on the header variants MIMIC-CXR reports use."""

from __future__ import annotations

import pytest

from medforget_data.dataset.sources.report_sections import CANONICAL_SECTIONS, parse_sections

FULL_REPORT = (
    "                                 FINAL REPORT\n"
    " EXAMINATION:  CHEST (PA AND LAT)\n \n"
    " INDICATION:  ___M with cough  // eval for infiltrate\n \n"
    " TECHNIQUE:  Chest PA and lateral\n \n"
    " COMPARISON:  ___\n \n"
    " FINDINGS: \n \n"
    " The cardiomediastinal silhouette is normal.  There is no focal\n"
    " consolidation, pleural effusion or pneumothorax.\n \n"
    " IMPRESSION: \n \n"
    " No acute cardiopulmonary process.\n"
)


def test_final_report_with_every_header() -> None:
    assert parse_sections(FULL_REPORT) == {
        "EXAMINATION": "CHEST (PA AND LAT)",
        "INDICATION": "___M with cough // eval for infiltrate",
        "TECHNIQUE": "Chest PA and lateral",
        "COMPARISON": "___",
        "FINDINGS": "The cardiomediastinal silhouette is normal. There is no focal consolidation, "
        "pleural effusion or pneumothorax.",
        "IMPRESSION": "No acute cardiopulmonary process.",
    }


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Mixed case and a space before the colon.
        (
            "Findings :\nclear lungs.\nimpression:\nnormal.",
            {"FINDINGS": "clear lungs.", "IMPRESSION": "normal."},
        ),
        # Header on its own line, text on the next lines.
        ("IMPRESSION:\n\n  Small left\n  effusion.\n", {"IMPRESSION": "Small left effusion."}),
        # Sections out of the usual order keep their own text.
        (
            "IMPRESSION: Stable.\nFINDINGS: Unchanged cardiomegaly.\nINDICATION: follow-up",
            {"IMPRESSION": "Stable.", "FINDINGS": "Unchanged cardiomegaly.", "INDICATION": "follow-up"},
        ),
        # Indication and impression variants.
        (
            "HISTORY:  Chest pain.\nCONCLUSION: Normal chest.",
            {"INDICATION": "Chest pain.", "IMPRESSION": "Normal chest."},
        ),
        (
            "REASON FOR EXAM: fever\nClinical History: cough\nFINDINGS AND IMPRESSION: No pneumonia.",
            {"INDICATION": "fever cough", "FINDINGS": "No pneumonia."},
        ),
        # An upper-case header alone on its line needs no colon.
        (
            "FINDINGS\nLungs are clear.\nIMPRESSION\nNormal.",
            {"FINDINGS": "Lungs are clear.", "IMPRESSION": "Normal."},
        ),
        # A repeated header (addendum) extends the section.
        (
            "IMPRESSION: Effusion.\nIMPRESSION: Addendum: also atelectasis.",
            {"IMPRESSION": "Effusion. Addendum: also atelectasis."},
        ),
        # A notification is recognised and dropped, not appended to the impression.
        (
            "IMPRESSION: Pneumothorax.\nNOTIFICATION: Dr. ___ was paged at 10:15.",
            {"IMPRESSION": "Pneumothorax."},
        ),
    ],
)
def test_header_variants(text: str, expected: dict[str, str]) -> None:
    assert parse_sections(text) == expected


def test_wet_read_before_the_final_report_is_dropped() -> None:
    report = (
        "WET READ: ___ ___ 2:15 PM\n  Possible right lower lobe pneumonia.\n"
        "______________________________________________________________________________\n"
        "                                 FINAL REPORT\n"
        "HISTORY:  Fever.\n\nFINDINGS:  Lungs are clear.\n\nIMPRESSION:  No pneumonia.\n"
    )
    sections = parse_sections(report)
    assert sections == {"INDICATION": "Fever.", "FINDINGS": "Lungs are clear.", "IMPRESSION": "No pneumonia."}
    assert "pneumonia." not in sections["FINDINGS"]


def test_wet_read_without_banner_does_not_leak_into_a_headerless_body() -> None:
    report = "WET READ: ___ 9:02 AM\n  preliminary: opacity\n\nThe lungs are clear.  No effusion.\n"
    assert parse_sections(report) == {"FINDINGS": "The lungs are clear. No effusion."}


def test_report_without_headers_is_findings() -> None:
    report = "                  FINAL REPORT\nPA and lateral views of the chest.\nThe lungs are clear.\n"
    assert parse_sections(report) == {"FINDINGS": "PA and lateral views of the chest. The lungs are clear."}


def test_header_words_inside_sentences_are_not_headers() -> None:
    report = (
        "FINDINGS: Heart is normal.\nfindings are unchanged from prior.\nComparison with ___ shows no change."
    )
    assert parse_sections(report) == {
        "FINDINGS": "Heart is normal. findings are unchanged from prior. Comparison with ___ shows no change."
    }


@pytest.mark.parametrize("text", ["", "   \n \n", "FINAL REPORT\n", "FINDINGS:\n\nIMPRESSION:\n"])
def test_empty_reports_and_empty_sections_yield_nothing(text: str) -> None:
    assert parse_sections(text) == {}


def test_only_canonical_names_come_out() -> None:
    assert set(parse_sections(FULL_REPORT)) <= set(CANONICAL_SECTIONS)
    assert CANONICAL_SECTIONS == (
        "EXAMINATION",
        "INDICATION",
        "TECHNIQUE",
        "COMPARISON",
        "FINDINGS",
        "IMPRESSION",
    )
