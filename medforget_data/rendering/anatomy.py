"""A patient's anatomy: the parameters that make their radiographs recognisable across studies.

Lengths are fractions of the image side in the frontal projection; x grows towards the image's
right (the patient's left, radiological convention), y grows downwards.
"""

from __future__ import annotations

import hashlib

import numpy as np
from pydantic import BaseModel, ConfigDict


def keyed_rng(*parts: object) -> np.random.Generator:
    """A generator seeded by a SHA-256 digest of the parts (never Python's salted hash())."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class Anatomy(BaseModel):
    """Sampled once per patient; every study of the patient is rendered from the same values."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str
    habitus: float  # soft-tissue thickness: brighter, lower-contrast body in larger patients
    thorax_half_width: float  # outer body outline
    lung_half_width: float  # each lung, medial to lateral border
    lung_top: float  # apex height
    diaphragm_right: float  # patient's right hemidiaphragm (image left), at the costophrenic angle
    diaphragm_left: float  # usually a little lower than the right
    dome_height: float  # how far each hemidiaphragm domes up above its costophrenic angle
    mediastinum_half_width: float
    heart_right: float  # heart border's reach right of the midline (patient's right, image left)
    heart_left: float  # reach towards the patient's left (image right): the larger part
    heart_height: float
    aortic_knob: float  # radius of the arch's bulge at the left upper mediastinum
    rib_spacing: float
    rib_curvature: float  # how strongly the posterior ribs bow down laterally
    rib_lift: float  # how steeply they rise leaving the spine
    clavicle_height: float
    clavicle_angle: float  # degrees of rise from the sternal end outwards
    spine_half_width: float
    gastric_bubble: tuple[float, float, float]  # (x offset, y offset, radius) under the left dome
    exposure: float  # brightness offset of this patient's usual technique
    contrast: float
    texture_seed: int  # lung vessels and parenchyma: a fixed pattern, so identity survives studies


def patient_anatomy(patient_key: str, seed: int) -> Anatomy:
    """The anatomy of one patient, a pure function of (seed, patient_key)."""
    rng = keyed_rng("anatomy", seed, patient_key)
    u = rng.uniform
    diaphragm_right = float(u(0.66, 0.76))
    return Anatomy(
        key=f"{seed}:{patient_key}",
        habitus=float(u(0.85, 1.15)),
        thorax_half_width=float(u(0.37, 0.45)),
        lung_half_width=float(u(0.14, 0.185)),
        lung_top=float(u(0.10, 0.17)),
        diaphragm_right=diaphragm_right,
        diaphragm_left=diaphragm_right + float(u(0.0, 0.04)),
        dome_height=float(u(0.03, 0.06)),
        mediastinum_half_width=float(u(0.04, 0.06)),
        heart_right=float(u(0.05, 0.075)),
        heart_left=float(u(0.10, 0.13)),
        heart_height=float(u(0.12, 0.16)),
        aortic_knob=float(u(0.018, 0.03)),
        rib_spacing=float(u(0.062, 0.08)),
        rib_curvature=float(u(0.8, 1.6)),
        rib_lift=float(u(0.15, 0.45)),
        clavicle_height=float(u(0.11, 0.17)),
        clavicle_angle=float(u(4.0, 20.0)),
        spine_half_width=float(u(0.026, 0.034)),
        gastric_bubble=(float(u(0.06, 0.16)), float(u(0.03, 0.07)), float(u(0.018, 0.04))),
        exposure=float(u(-0.06, 0.06)),
        contrast=float(u(0.85, 1.15)),
        texture_seed=int(rng.integers(0, 2**31 - 1)),
    )
