"""Deterministic radiograph rendering: patient anatomy + study findings → grayscale image."""

from medforget_data.dataset.rendering.anatomy import Anatomy, keyed_rng, patient_anatomy
from medforget_data.dataset.rendering.radiograph import encode_png, render_radiograph

__all__ = ["Anatomy", "encode_png", "keyed_rng", "patient_anatomy", "render_radiograph"]
