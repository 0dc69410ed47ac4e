"""The shared vocabulary of the projections: a coordinate grid, soft masks, and a scene's layers.

A scene is an attenuation map in layers (bright = dense) plus the anchor points where findings
are drawn, so lesions.py can place a finding without knowing which projection it is in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw

from medforget_data.rendering.anatomy import Anatomy, keyed_rng

Point = tuple[float, float]
SIDES = ("right", "left")
ZONE_DEPTH = {"upper": 0.22, "middle": 0.5, "lower": 0.78}  # fraction of the lung's height


@dataclass(frozen=True)
class Modifiers:
    """What findings change in the anatomy itself, before anything is drawn over it."""

    heart_scale: float = 1.0
    diaphragm_drop: float = 0.0  # hyperinflation pushes the diaphragm down ...
    flatten: float = 0.0  # ... and flattens its domes (0 = normal, 1 = flat)
    spine_bend: float = 0.0  # scoliosis: amplitude of the lateral curve
    fractures: tuple[tuple[str, str], ...] = ()  # (side, zone) of each broken rib


class Grid:
    """Normalised coordinates (x, y in [0, 1], pixel centres) over a size×size image."""

    def __init__(self, size: int) -> None:
        axis = (np.arange(size, dtype=np.float32) + 0.5) / size
        self.size = size
        self.x, self.y = np.meshgrid(axis, axis)
        self.edge = 1.2 / size  # width of an anti-aliased edge

    def soft(self, margin: np.ndarray) -> np.ndarray:
        """0..1 mask from a signed margin (positive inside, in image fractions), edges anti-aliased."""
        return np.clip(margin / self.edge + 0.5, 0.0, 1.0).astype(np.float32)

    def ellipse(self, centre: Point, rx: float, ry: float) -> np.ndarray:
        radius = np.sqrt(((self.x - centre[0]) / rx) ** 2 + ((self.y - centre[1]) / ry) ** 2)
        return self.soft((1.0 - radius) * min(rx, ry))

    def gauss(self, centre: Point, rx: float, ry: float) -> np.ndarray:
        return np.exp(-(((self.x - centre[0]) / rx) ** 2 + ((self.y - centre[1]) / ry) ** 2))

    def layer(self) -> np.ndarray:
        return np.zeros((self.size, self.size), dtype=np.float32)


def draw_lines(size: int, lines: list[tuple[list[Point], float]]) -> np.ndarray:
    """Polylines (points in image fractions, width in fractions) drawn into a 0..1 layer."""
    image = Image.new("L", (size, size))
    pen = ImageDraw.Draw(image)
    for points, width in lines:
        pixels = [(px * size, py * size) for px, py in points]
        pen.line(pixels, fill=255, width=max(1, round(width * size)), joint="curve")
    return np.asarray(image, dtype=np.float32) / 255.0


@dataclass
class Scene:
    """One projection's layers; lesions add to `fill`, `extra`, `overlay`, `air` and `clear`."""

    grid: Grid
    body: np.ndarray  # soft tissue of the trunk
    abdomen: np.ndarray  # below the diaphragm
    lungs: dict[str, np.ndarray]  # aerated lung field of each side
    dense: np.ndarray  # mediastinum, heart, hila (additive)
    bone: np.ndarray  # ribs, clavicles, spine, sternum (additive)
    vessels: np.ndarray  # lung markings, shown only where lung is aerated
    hila: dict[str, Point]
    apices: dict[str, Point]
    costophrenic: dict[str, Point]  # lowest lateral (frontal) or posterior (lateral) lung corner
    outward: dict[str, float]  # +1 / -1: direction from the hilum to the chest wall on the image
    lung_box: dict[str, tuple[float, float, float, float]]  # (x0, x1, top, base) of each lung
    fill: np.ndarray = field(init=False)  # 0..1: air replaced by fluid or consolidation
    extra: np.ndarray = field(init=False)  # soft-tissue density added (haze, nodules)
    overlay: np.ndarray = field(init=False)  # metal and calcium, drawn over everything
    air: np.ndarray = field(init=False)  # extra air (pneumothorax)
    clear: np.ndarray = field(init=False)  # 0..1: lung markings removed (pneumothorax)

    def __post_init__(self) -> None:
        self.fill, self.extra, self.overlay, self.air, self.clear = (self.grid.layer() for _ in range(5))

    def zone_point(self, side: str, zone: str | None) -> Point:
        x0, x1, top, base = self.lung_box[side]
        depth = ZONE_DEPTH[zone or "middle"]
        return (x0 + x1) / 2, top + depth * (base - top)

    def lung(self) -> np.ndarray:
        return np.clip(self.lungs["right"] + self.lungs["left"], 0.0, 1.0)


def lung_markings(grid: Grid, anatomy: Anatomy, roots: list[tuple[Point, float]]) -> np.ndarray:
    """Branching pulmonary vessels from each hilum plus a faint mottle: a fixed pattern per patient.

    Each root is a hilum and the image angle (radians) that points from it to the chest wall.
    """
    rng = keyed_rng("vessels", anatomy.texture_seed)
    lines: list[tuple[list[Point], float]] = []

    def branch(start: Point, angle: float, length: float, width: float, depth: int) -> None:
        end = (start[0] + length * math.cos(angle), start[1] + length * math.sin(angle))
        lines.append(([start, end], width))
        if depth:
            for turn in (-1.0, 1.0):
                spread = float(rng.uniform(0.25, 0.6))
                branch(end, angle + turn * spread, length * float(rng.uniform(0.6, 0.85)), width * 0.7, depth - 1)

    for hilum, outward in roots:
        # Fan out: up-and-out to the apex, out, and down-and-out to the base.
        turn = 1.0 if math.cos(outward) >= 0 else -1.0
        for aim in (-1.1, -0.35, 0.35, 1.0):
            angle = outward + turn * aim + float(rng.normal(0, 0.12))
            branch(hilum, angle, float(rng.uniform(0.05, 0.08)), 0.012, 3)
    mottle = _upsample(rng.normal(size=(10, 10)).astype(np.float32), grid.size)
    return draw_lines(grid.size, lines) + 0.25 * mottle


def _upsample(small: np.ndarray, size: int) -> np.ndarray:
    """Bilinear upsampling of a coarse field to size×size."""
    coords = np.linspace(0, small.shape[0] - 1, size, dtype=np.float32)
    low = np.floor(coords).astype(int)
    high = np.minimum(low + 1, small.shape[0] - 1)
    t = coords - low
    rows = small[low] * (1 - t)[:, None] + small[high] * t[:, None]
    return (rows[:, low] * (1 - t)[None, :] + rows[:, high] * t[None, :]).astype(np.float32)
