"""Split a free-text radiology report (MIMIC-CXR style) into its sections.

Headers vary in case, spacing and order ("FINDINGS:", "Findings :", "IMPRESSION:\\n"), may be
preceded by a "FINAL REPORT" banner or a "WET READ" note, and some reports have none at all.
"""

from __future__ import annotations

import re

# Header as written → canonical name.
HEADER_NAMES: dict[str, str] = {
    "EXAMINATION": "EXAMINATION",
    "EXAM": "EXAMINATION",
    "STUDY": "EXAMINATION",
    "INDICATION": "INDICATION",
    "INDICATIONS": "INDICATION",
    "HISTORY": "INDICATION",
    "CLINICAL HISTORY": "INDICATION",
    "CLINICAL INDICATION": "INDICATION",
    "REASON FOR EXAM": "INDICATION",
    "REASON FOR EXAMINATION": "INDICATION",
    "TECHNIQUE": "TECHNIQUE",
    "COMPARISON": "COMPARISON",
    "COMPARISONS": "COMPARISON",
    "FINDINGS": "FINDINGS",
    "FINDING": "FINDINGS",
    "IMPRESSION": "IMPRESSION",
    "IMPRESSIONS": "IMPRESSION",
    "CONCLUSION": "IMPRESSION",
}
_HEADER = re.compile(
    r"^[ \t]*(" + "|".join(sorted((re.escape(h) for h in HEADER_NAMES), key=len, reverse=True)) + r")[ \t]*:",
    re.IGNORECASE | re.MULTILINE,
)
_BANNER = re.compile(r"^[ \t]*(FINAL REPORT|WET READ.*|ADDENDUM)[ \t]*$", re.IGNORECASE | re.MULTILINE)


def _clean(text: str) -> str:
    return " ".join(text.split())


def parse_sections(report: str) -> dict[str, str]:
    """Canonical section name → text. A report without headers yields its body as FINDINGS."""
    text = _BANNER.sub("", report)
    matches = list(_HEADER.finditer(text))
    if not matches:
        body = _clean(text)
        return {"FINDINGS": body} if body else {}
    sections: dict[str, str] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        name = HEADER_NAMES[match.group(1).upper()]
        content = _clean(text[match.end() : end])
        if content:
            # A repeated header (an addendum's second IMPRESSION) extends the section.
            sections[name] = f"{sections[name]} {content}" if name in sections else content
    return sections
