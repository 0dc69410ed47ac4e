"""Deterministic chest radiograph renderer (design §4).

Radiological convention: the patient's right is on the image's left, so a finding on the
patient's "left" is drawn on the image's right half. Intensities are X-ray attenuation:
air (lungs) dark, bone and soft tissue bright.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageFilter

from medforget_data.dataset.findings import FINDING_KINDS
from medforget_data.dataset.rendering.anatomy import Anatomy, keyed_rng
from medforget_data.dataset.schema import Finding

ZONE_DEPTH = {"upper": 0.2, "middle": 0.5, "lower": 0.8}  # fraction of the lung's height


class Canvas:
    """Normalised coordinates (x, y in [0, 1]) over a size×size float image."""

    def __init__(self, size: int, shift: tuple[float, float] = (0.0, 0.0)) -> None:
        axis = (np.arange(size, dtype=np.float32) + 0.5) / size
        # A study's positioning shift moves the patient within the frame (no wrap-around).
        self.x, self.y = np.meshgrid(axis - shift[0], axis - shift[1])
        self.image = np.zeros((size, size), dtype=np.float32)

    def blob(self, cx: float, cy: float, rx: float, ry: float, amount: float) -> None:
        self.image += amount * np.exp(-(((self.x - cx) / rx) ** 2 + ((self.y - cy) / ry) ** 2))

    def disc(self, cx: float, cy: float, r: float) -> np.ndarray:
        return ((self.x - cx) ** 2 + (self.y - cy) ** 2) <= r * r


def _side_x(anatomy: Anatomy, side: str) -> float:
    """Image x of a lung's centre; the patient's left lung is on the image's right."""
    offset = anatomy.mediastinum_half_width + anatomy.lung_half_width
    return 0.5 + offset if side == "left" else 0.5 - offset


def _lung_masks(canvas: Canvas, anatomy: Anatomy, diaphragm_drop: float) -> dict[str, np.ndarray]:
    masks = {}
    for side, base in (("right", anatomy.diaphragm_right), ("left", anatomy.diaphragm_left)):
        cx = _side_x(anatomy, side)
        bottom = base + diaphragm_drop
        cy = (anatomy.lung_top + bottom) / 2
        ry = (bottom - anatomy.lung_top) / 2
        # A superellipse: rounded apex, flatter sides, like a lung field.
        shape = np.abs((canvas.x - cx) / anatomy.lung_half_width) ** 2.5 + np.abs((canvas.y - cy) / ry) ** 2.2
        masks[side] = shape <= 1.0
    return masks


def _zone_centre(anatomy: Anatomy, side: str, zone: str | None, drop: float) -> tuple[float, float]:
    base = anatomy.diaphragm_left if side == "left" else anatomy.diaphragm_right
    top, bottom = anatomy.lung_top, base + drop
    depth = ZONE_DEPTH[zone or "middle"]
    return _side_x(anatomy, side), top + depth * (bottom - top)


def _sides(finding: Finding, rng: np.random.Generator) -> list[str]:
    if finding.side == "bilateral":
        return ["right", "left"]
    return [finding.side or ("right", "left")[int(rng.integers(2))]]


def render_radiograph(
    anatomy: Anatomy, findings: Sequence[Finding], view: str, study_key: str, size: int = 224
) -> Image.Image:
    for finding in findings:
        if finding.kind not in FINDING_KINDS:
            raise ValueError(f"unknown finding kind {finding.kind!r}; known: {', '.join(FINDING_KINDS)}")
    rng = keyed_rng("study", anatomy.key, study_key)
    kinds = {f.kind for f in findings}
    canvas = Canvas(size, (float(rng.uniform(-0.012, 0.012)), float(rng.uniform(-0.012, 0.012))))
    x, y = canvas.x, canvas.y
    drop = 0.06 if "hyperinflation" in kinds else 0.0

    # Soft tissue of the body, then the lung fields carved out of it.
    body = np.abs((x - 0.5) / anatomy.thorax_half_width) ** 4 + np.abs((y - 0.62) / 0.62) ** 6 <= 1.0
    canvas.image += 0.42 * body
    lungs = _lung_masks(canvas, anatomy, drop)
    lung = lungs["right"] | lungs["left"]
    canvas.image -= (0.30 + (0.05 if drop else 0.0)) * lung
    # Lung markings: a fixed per-patient texture, so identity survives across studies.
    texture = keyed_rng("texture", anatomy.texture_seed).normal(size=(12, 12)).astype(np.float32)
    markings = np.asarray(Image.fromarray(texture).resize((size, size), Image.BICUBIC))
    canvas.image += 0.05 * markings * lung

    # Ribs: tilted periodic bands over the thorax.
    phase = (y + anatomy.rib_tilt * np.abs(x - 0.5)) / anatomy.rib_spacing
    lowest = max(anatomy.diaphragm_right, anatomy.diaphragm_left) + drop
    ribs = (np.cos(2 * np.pi * phase) > 0.55) & body & (y < lowest)
    canvas.image += 0.10 * ribs
    # Clavicles, sloping outwards from the neck.
    for direction in (-1, 1):
        line = anatomy.clavicle_height + anatomy.clavicle_slope * np.abs(x - 0.5)
        clavicle = (np.abs(y - line) < 0.012) & (np.abs(x - 0.5) < 0.3) & ((x - 0.5) * direction > 0.02)
        canvas.image += 0.25 * clavicle

    # Spine and mediastinum (scoliosis bends the spine).
    bend = 0.035 * np.sin(np.pi * (y - 0.1) / 0.8) if "scoliosis" in kinds else 0.0
    spine = np.abs(x - 0.5 - bend) < 0.035
    canvas.image += 0.28 * spine
    canvas.image += 0.25 * ((np.abs(x - 0.5) < anatomy.mediastinum_half_width) & (y > 0.08) & (y < 0.7))

    # Heart: larger with cardiomegaly, slightly magnified on AP views.
    heart_scale = (1.4 if "cardiomegaly" in kinds else 1.0) * (1.08 if view.upper().startswith("AP") else 1.0)
    heart_cy = min(anatomy.diaphragm_right, anatomy.diaphragm_left) + drop - anatomy.heart_height * 0.7
    heart = (
        ((x - 0.5 - anatomy.heart_shift) / (anatomy.heart_half_width * heart_scale)) ** 2
        + ((y - heart_cy) / anatomy.heart_height) ** 2
    ) <= 1.0
    canvas.image += 0.32 * heart * (lung | body)
    # Below the diaphragm: abdomen.
    for side, base in (("right", anatomy.diaphragm_right), ("left", anatomy.diaphragm_left)):
        half = (x < 0.5) if side == "right" else (x >= 0.5)
        dome = (
            base
            + drop
            + 0.05 * ((x - _side_x(anatomy, side)) / anatomy.lung_half_width) ** 2 * (0.4 if drop else 1)
        )
        canvas.image += 0.25 * (half & body & (y > dome) & ~lung)

    for finding in findings:
        _draw_finding(canvas, anatomy, finding, lungs, drop, rng)

    # Per-study acquisition: small shift, exposure change and quantum noise.
    canvas.image = canvas.image * anatomy.contrast + anatomy.exposure + float(rng.normal(0, 0.015))
    canvas.image += rng.normal(0, 0.01, canvas.image.shape).astype(np.float32)
    pixels = np.clip((canvas.image + 0.1) * 255, 0, 255).astype(np.uint8)
    return Image.fromarray(pixels, mode="L").filter(ImageFilter.GaussianBlur(0.8))


def _draw_finding(
    canvas: Canvas,
    anatomy: Anatomy,
    finding: Finding,
    lungs: dict[str, np.ndarray],
    drop: float,
    rng: np.random.Generator,
) -> None:
    x, y = canvas.x, canvas.y
    strong = 1.3 if finding.severity in ("moderate", "large", "severe") else 1.0
    for side in _sides(finding, rng):
        cx, cy = _zone_centre(anatomy, side, finding.zone, drop)
        lung = lungs[side]
        base = anatomy.diaphragm_left if side == "left" else anatomy.diaphragm_right
        kind = finding.kind
        if kind == "opacity":
            canvas.image += 0.28 * strong * lung * np.exp(-(((x - cx) / 0.07) ** 2 + ((y - cy) / 0.08) ** 2))
        elif kind == "atelectasis":
            canvas.image += 0.25 * lung * np.exp(-(((x - cx) / 0.09) ** 2 + ((y - cy) / 0.018) ** 2))
        elif kind == "nodule":
            canvas.image += 0.35 * canvas.disc(cx + 0.03, cy, 0.022)
        elif kind == "calcified granuloma":
            canvas.image += 0.55 * canvas.disc(cx - 0.02, cy, 0.010)
        elif kind == "pleural effusion":
            # Fluid fills the costophrenic angle and the lung base, with a meniscus rising laterally.
            lateral = np.clip(np.abs(x - cx) / anatomy.lung_half_width, 0, 1.2)
            level = base + drop - 0.12 * strong - 0.06 * lateral**2
            band = np.abs(x - cx) < 1.15 * anatomy.lung_half_width
            canvas.image += 0.35 * (band & (y > level) & (y < base + drop + 0.06))
        elif kind == "pneumothorax":
            # Air without markings at the apex, bounded by a thin visceral pleural line.
            apex = lung & (y < anatomy.lung_top + 0.16) & (np.abs(x - 0.5) > np.abs(cx - 0.5))
            canvas.image -= 0.2 * apex
        elif kind == "pulmonary edema":
            hilum = 0.5 + (0.5 - cx) * -0.45
            canvas.image += 0.18 * lung * np.exp(-(((x - hilum) / 0.09) ** 2 + ((y - 0.45) / 0.14) ** 2))
        elif kind == "hyperinflation":
            pass  # drawn through the lowered, flattened diaphragm and darker lungs
        elif kind == "medical device":
            # A catheter running from the neck into the mediastinum, and a generator box below the clavicle.
            path = np.abs(x - (cx + (0.5 - cx) * np.clip((y - 0.1) / 0.3, 0, 1))) < 0.006
            canvas.image += 0.45 * (path & (y > 0.08) & (y < 0.42))
            canvas.image += 0.5 * ((np.abs(x - cx) < 0.04) & (np.abs(y - 0.22) < 0.025))
        elif kind == "scoliosis":
            pass  # drawn through the bent spine
        elif kind == "fracture":
            # A step in a lateral rib: a dark gap with a bright callus beside it.
            gap = (np.abs(x - (cx + 0.08 * np.sign(cx - 0.5))) < 0.006) & (np.abs(y - cy) < 0.03)
            canvas.image -= 0.2 * gap
            canvas.image += 0.3 * canvas.disc(cx + 0.09 * np.sign(cx - 0.5), cy, 0.012)


def encode_png(image: Image.Image) -> bytes:
    """PNG bytes with fixed settings, so equal images give equal bytes."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=False, compress_level=9)
    return buffer.getvalue()
