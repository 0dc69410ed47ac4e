"""The finding vocabulary: one list of the radiographic findings the benchmark knows.

Sources map their tags onto these kinds, the renderer draws them, and the offline judge
detects them in free text through the synonyms below.
"""

from __future__ import annotations

# kind -> phrases that name it in a report (lower case; the kind itself comes first).
FINDING_SYNONYMS: dict[str, tuple[str, ...]] = {
    "cardiomegaly": (
        "cardiomegaly",
        "enlarged heart",
        "cardiac enlargement",
        "enlarged cardiac silhouette",
        "heart is enlarged",
        "heart size is enlarged",
    ),
    "pleural effusion": ("pleural effusion", "pleural effusions", "effusion", "effusions", "pleural fluid"),
    "opacity": (
        "opacity",
        "opacities",
        "airspace disease",
        "consolidation",
        "infiltrate",
        "infiltrates",
        "pneumonia",
        "airspace opacity",
    ),
    "atelectasis": ("atelectasis", "atelectatic", "subsegmental atelectasis"),
    "nodule": ("nodule", "nodules", "nodular opacity", "mass"),
    "calcified granuloma": ("calcified granuloma", "granuloma", "granulomas", "granulomatous disease"),
    "pneumothorax": ("pneumothorax", "pneumothoraces"),
    "pulmonary edema": ("pulmonary edema", "edema", "vascular congestion", "pulmonary congestion"),
    "hyperinflation": (
        "hyperinflation",
        "hyperinflated",
        "hyperexpanded",
        "hyperexpansion",
        "emphysema",
        "copd",
        "emphysematous",
    ),
    "medical device": (
        "medical device",
        "catheter",
        "pacemaker",
        "port",
        "tube",
        "stent",
        "sternotomy wires",
        "surgical clips",
        "device",
    ),
    "scoliosis": ("scoliosis", "curvature of the spine"),
    "fracture": ("fracture", "fractures", "fractured"),
}
FINDING_KINDS: tuple[str, ...] = tuple(FINDING_SYNONYMS)
NO_FINDING = "no acute abnormality"
