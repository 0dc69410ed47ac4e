"""Split a free-text radiology report (MIMIC-CXR style) into its sections.

Headers vary in case, spacing and order ("FINDINGS:", "Findings :", "IMPRESSION:\\n", a bare
"FINDINGS" line); a report may open with a "WET READ" note (the preliminary read, superseded by
the final report) and a "FINAL REPORT" banner; some reports have no headers at all.
"""

from __future__ import annotations

import re

# Header as written (upper case) → canonical name; None marks a recognised header whose text is
# dropped (a notification names the clinician called and when — not report content).
HEADER_NAMES: dict[str, str | None] = {
    "EXAMINATION": "EXAMINATION",
    "EXAM": "EXAMINATION",
    "STUDY": "EXAMINATION",
    "TYPE OF EXAMINATION": "EXAMINATION",
    "INDICATION": "INDICATION",
    "INDICATIONS": "INDICATION",
    "CLINICAL INDICATION": "INDICATION",
    "HISTORY": "INDICATION",
    "CLINICAL HISTORY": "INDICATION",
    "REASON FOR EXAM": "INDICATION",
    "REASON FOR EXAMINATION": "INDICATION",
    "REASON FOR STUDY": "INDICATION",
    "TECHNIQUE": "TECHNIQUE",
    "COMPARISON": "COMPARISON",
    "COMPARISONS": "COMPARISON",
    "FINDINGS": "FINDINGS",
    "FINDING": "FINDINGS",
    "FINDINGS AND IMPRESSION": "FINDINGS",
    "IMPRESSION": "IMPRESSION",
    "IMPRESSIONS": "IMPRESSION",
    "CONCLUSION": "IMPRESSION",
    "CONCLUSIONS": "IMPRESSION",
    "NOTIFICATION": None,
    "RECOMMENDATION": None,
    "RECOMMENDATIONS": None,
}
CANONICAL_SECTIONS: tuple[str, ...] = tuple(dict.fromkeys(n for n in HEADER_NAMES.values() if n))

_NAMES = "|".join(
    sorted((re.escape(h).replace(r"\ ", r"[ \t]+") for h in HEADER_NAMES), key=len, reverse=True)
)
# "Name:" in any case and spacing, or an upper-case name alone on its line.
_HEADER = re.compile(rf"^[ \t]*(?:(?i:(?P<colon>{_NAMES}))[ \t]*:|(?P<bare>{_NAMES})[ \t]*$)", re.MULTILINE)
_FINAL_REPORT = re.compile(r"^[ \t]*FINAL REPORT[ \t]*$", re.IGNORECASE | re.MULTILINE)
# A wet read runs from its line to the next blank or "____" separator line.
_WET_READ = re.compile(r"^[ \t]*WET READ\b.*?(?:\n[ \t]*\n|\n[ \t]*_{5,}[ \t]*\n|\Z)", re.I | re.M | re.S)
_SEPARATOR = re.compile(r"^[ \t]*_{5,}[ \t]*$", re.MULTILINE)


def _clean(text: str) -> str:
    return " ".join(text.split())


def _body(report: str) -> str:
    """The final report's text: what follows a FINAL REPORT banner, without wet reads or rules."""
    banner = _FINAL_REPORT.search(report)  # anything before it is a preliminary read
    text = report[banner.end() :] if banner else report
    return _SEPARATOR.sub("", _WET_READ.sub("", text))


def parse_sections(report: str) -> dict[str, str]:
    """Canonical section name → text, in report order.

    Canonical names: EXAMINATION, INDICATION, TECHNIQUE, COMPARISON, FINDINGS, IMPRESSION. Text
    before the first header is dropped when headers exist; a report without any header yields its
    whole body as FINDINGS (such MIMIC reports are a findings paragraph).
    """
    text = _body(report)
    matches = list(_HEADER.finditer(text))
    if not matches:
        body = _clean(text)
        return {"FINDINGS": body} if body else {}
    sections: dict[str, str] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        header = " ".join((match.group("colon") or match.group("bare")).upper().split())
        name = HEADER_NAMES[header]
        content = _clean(text[match.end() : end])
        if name and content:
            # A repeated header (an addendum's second IMPRESSION) extends the section.
            sections[name] = f"{sections[name]} {content}" if name in sections else content
    return sections
