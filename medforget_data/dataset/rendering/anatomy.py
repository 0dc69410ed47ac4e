"""A patient's anatomy: the parameters that make their radiographs recognisable across studies."""

from __future__ import annotations

import hashlib

import numpy as np
from pydantic import BaseModel, ConfigDict


def keyed_rng(*parts: object) -> np.random.Generator:
    """A generator seeded by a SHA-256 digest of the parts (never Python's hash())."""
    digest = hashlib.sha256(":".join(str(p) for p in parts).encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


class Anatomy(BaseModel):
    """Fractions of the image side unless stated; sampled once per patient."""

    model_config = ConfigDict(frozen=True)

    key: str
    thorax_half_width: float  # body outline
    lung_half_width: float  # each lung, horizontal semi-axis
    lung_top: float
    diaphragm_right: float  # patient's right hemidiaphragm (image left)
    diaphragm_left: float
    mediastinum_half_width: float
    heart_half_width: float
    heart_height: float
    heart_shift: float  # towards the patient's left (image right)
    rib_spacing: float
    rib_tilt: float
    clavicle_height: float
    clavicle_slope: float
    exposure: float  # overall brightness offset
    contrast: float
    texture_seed: int  # lung-marking pattern, stable across the patient's studies


def patient_anatomy(patient_key: str, seed: int) -> Anatomy:
    rng = keyed_rng("anatomy", seed, patient_key)
    return Anatomy(
        key=patient_key,
        thorax_half_width=float(rng.uniform(0.36, 0.46)),
        lung_half_width=float(rng.uniform(0.13, 0.18)),
        lung_top=float(rng.uniform(0.10, 0.20)),
        diaphragm_right=float(rng.uniform(0.66, 0.78)),
        diaphragm_left=float(rng.uniform(0.68, 0.82)),
        mediastinum_half_width=float(rng.uniform(0.045, 0.075)),
        heart_half_width=float(rng.uniform(0.10, 0.14)),
        heart_height=float(rng.uniform(0.13, 0.19)),
        heart_shift=float(rng.uniform(0.01, 0.06)),
        rib_spacing=float(rng.uniform(0.055, 0.085)),
        rib_tilt=float(rng.uniform(0.15, 0.55)),
        clavicle_height=float(rng.uniform(0.10, 0.17)),
        clavicle_slope=float(rng.uniform(-0.25, 0.15)),
        exposure=float(rng.uniform(-0.08, 0.08)),
        contrast=float(rng.uniform(0.8, 1.2)),
        texture_seed=int(rng.integers(0, 2**31 - 1)),
    )
