"""The renderer is deterministic and its images carry identity and findings (design §4)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression

from medforget_data.dataset.findings import FINDING_KINDS
from medforget_data.dataset.rendering import encode_png, patient_anatomy, render_radiograph
from medforget_data.dataset.schema import Finding

SIDES = ("left", "right")
ZONES = ("upper", "middle", "lower")


def random_findings(rng: np.random.Generator, exclude: str | None = None) -> list[Finding]:
    kinds = [k for k in FINDING_KINDS if k != exclude]
    count = int(rng.integers(0, 3))
    return [
        Finding(
            kind=kinds[int(rng.integers(len(kinds)))],
            side=SIDES[int(rng.integers(2))],
            zone=ZONES[int(rng.integers(3))],
        )
        for _ in range(count)
    ]


def pixels(image: Image.Image, side: int = 32) -> np.ndarray:
    return np.asarray(image.resize((side, side), Image.BILINEAR), dtype=np.float32).ravel() / 255.0


def test_same_inputs_give_identical_bytes_and_studies_differ() -> None:
    anatomy = patient_anatomy("patient-0001", 0)
    findings = [Finding(kind="opacity", side="left", zone="lower")]
    first = encode_png(render_radiograph(anatomy, findings, "PA", "study-0001"))
    assert first == encode_png(
        render_radiograph(patient_anatomy("patient-0001", 0), findings, "PA", "study-0001")
    )
    assert first != encode_png(render_radiograph(anatomy, findings, "PA", "study-0002"))
    image = Image.open(io.BytesIO(first))
    assert image.mode == "L" and image.size == (224, 224)
    assert render_radiograph(anatomy, [], "PA", "s", size=96).size == (96, 96)


def test_unknown_finding_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown finding kind 'tumour'"):
        render_radiograph(patient_anatomy("p", 0), [Finding(kind="tumour")], "PA", "s")


def test_every_finding_changes_the_image_where_the_report_places_it() -> None:
    anatomy = patient_anatomy("patient-0002", 0)
    plain = np.asarray(render_radiograph(anatomy, [], "PA", "s"), dtype=np.float32)
    for kind in FINDING_KINDS:
        left = np.asarray(
            render_radiograph(anatomy, [Finding(kind=kind, side="left", zone="lower")], "PA", "s"),
            dtype=np.float32,
        )
        assert np.abs(left - plain).max() > 40, kind  # of 255: visible even when small
    # A left-sided opacity (patient's left) changes the image's right half far more than its left half.
    opacity = np.asarray(
        render_radiograph(anatomy, [Finding(kind="opacity", side="left", zone="lower")], "PA", "s"),
        dtype=np.float32,
    )
    change = np.abs(opacity - plain)
    assert change[:, 112:].sum() > 5 * change[:, :112].sum()


def test_patient_is_identified_across_studies_from_pixels() -> None:
    """1-nearest-neighbour on 32×32 pixels: studies 1–2 of 20 patients train, study 3 is identified."""
    rng = np.random.default_rng(0)
    patients = [f"patient-{i:04d}" for i in range(20)]
    gallery, labels, probes = [], [], []
    for index, patient in enumerate(patients):
        anatomy = patient_anatomy(patient, 0)
        for study in range(3):
            vector = pixels(render_radiograph(anatomy, random_findings(rng), "PA", f"{patient}-s{study}"))
            if study < 2:
                gallery.append(vector)
                labels.append(index)
            else:
                probes.append(vector)
    gallery_matrix = np.stack(gallery)
    hits = 0
    for index, probe in enumerate(probes):
        nearest = int(np.argmin(((gallery_matrix - probe) ** 2).sum(1)))
        hits += labels[nearest] == index
    assert hits / len(patients) >= 0.8  # chance is 0.05


@pytest.mark.parametrize("kind", ["cardiomegaly", "pleural effusion"])
def test_finding_is_detected_on_unseen_patients(kind: str) -> None:
    """Logistic regression on 32×32 pixels; train and test patients are disjoint."""
    rng = np.random.default_rng(1)
    features, targets = [], []
    for index in range(120):
        anatomy = patient_anatomy(f"{kind}-patient-{index}", 0)
        present = index % 2 == 1
        findings = random_findings(rng, exclude=kind)
        if present:
            findings.append(Finding(kind=kind, side=SIDES[int(rng.integers(2))]))
        features.append(pixels(render_radiograph(anatomy, findings, "PA", f"s{index}")))
        targets.append(int(present))
    x, y = np.stack(features), np.array(targets)
    model = LogisticRegression(max_iter=2000, C=1.0).fit(x[:80], y[:80])
    assert model.score(x[80:], y[80:]) >= 0.85  # chance is 0.5
