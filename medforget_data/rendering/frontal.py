"""The frontal (PA or AP) projection of a patient's chest.

Radiological convention: the patient faces the viewer, so the patient's RIGHT is on the image's
LEFT. Here `sign` is -1 for the patient's right side (image x < 0.5) and +1 for the left.
"""

from __future__ import annotations

import math

import numpy as np

from medforget_data.rendering.anatomy import Anatomy
from medforget_data.rendering.scene import (
    SIDES,
    ZONE_DEPTH,
    Grid,
    Modifiers,
    Scene,
    draw_lines,
    lung_markings,
)

SIGN = {"right": -1.0, "left": 1.0}


def _base(anatomy: Anatomy, side: str, mods: Modifiers) -> float:
    return (anatomy.diaphragm_right if side == "right" else anatomy.diaphragm_left) + mods.diaphragm_drop


def _spine_bend(grid: Grid, mods: Modifiers) -> np.ndarray:
    """Scoliosis: a C-shaped lateral curve of the thoracic spine (zero without it)."""
    return (mods.spine_bend * np.sin(np.pi * np.clip((grid.y - 0.05) / 0.85, 0, 1))).astype(np.float32)


def _lung(grid: Grid, anatomy: Anatomy, side: str, mods: Modifiers) -> np.ndarray:
    """A lung field: rounded apex, convex lateral wall, domed base with a sharp costophrenic angle."""
    width, top, base = anatomy.lung_half_width, anatomy.lung_top, _base(anatomy, side, mods)
    d = SIGN[side] * (grid.x - 0.5) - anatomy.mediastinum_half_width  # distance from the medial edge
    u = d / width
    s = np.clip((grid.y - top) / (base - top), 0.0, 1.0)
    lateral = (1.0 - 0.6 * (1.0 - s) ** 3 - u) * width  # narrow at the apex, full width lower down
    apex = (grid.y - top - 0.35 * width * (2 * u - 0.9) ** 2).astype(np.float32)
    dome = anatomy.dome_height * (1.0 - mods.flatten) * (1.0 - ((u - 0.35) / 0.65) ** 2)
    floor = base - dome - grid.y
    return grid.soft(np.minimum(np.minimum(d, lateral), np.minimum(apex, floor)))


def _ribs(grid: Grid, anatomy: Anatomy, bend: np.ndarray, mods: Modifiers) -> np.ndarray:
    """Posterior ribs: bands leaving the spine, rising briefly, then bowing down laterally."""
    offset = grid.x - 0.5 - bend
    d = np.abs(offset)
    y = grid.y.copy()
    spacing = anatomy.rib_spacing
    start = anatomy.lung_top - 0.05
    curve = start - anatomy.rib_lift * d + anatomy.rib_curvature * d**2
    reach = anatomy.mediastinum_half_width + anatomy.lung_half_width
    gaps = np.zeros_like(y, dtype=bool)
    for side, zone in mods.fractures:
        # A displaced fracture: the rib lateral to the break is stepped down and a gap opens.
        d_break = anatomy.mediastinum_half_width + 0.7 * anatomy.lung_half_width
        top, base = anatomy.lung_top, _base(anatomy, side, mods)
        y_zone = top + ZONE_DEPTH[zone] * (base - top)
        curve_at = start - anatomy.rib_lift * d_break + anatomy.rib_curvature * d_break**2
        rib_top = curve_at + math.floor((y_zone - curve_at) / spacing) * spacing
        rib_here = curve - curve_at + rib_top
        on_side = SIGN[side] * offset > 0
        window = on_side & (d > d_break) & (y > rib_here - 0.2 * spacing) & (y < rib_here + 0.7 * spacing)
        y = np.where(window, y - 0.25 * spacing, y)
        gaps |= on_side & (np.abs(d - d_break) < 0.006) & (np.abs(y - rib_here) < spacing)
    phase = (y - curve) / spacing
    frac = phase - np.floor(phase)
    band = grid.soft(np.minimum(frac, 0.4 - frac) * spacing)
    inside = (phase >= 0) & (phase < 10) & (d > anatomy.spine_half_width) & (d < reach + 0.05) & ~gaps
    return band * inside


def _clavicles(grid: Grid, anatomy: Anatomy, view: str) -> np.ndarray:
    rise = math.tan(math.radians(anatomy.clavicle_angle))
    height = anatomy.clavicle_height - (0.03 if view == "AP" else 0.0)  # AP projects them higher
    lines = []
    for sign in (-1.0, 1.0):
        points = []
        for step in range(9):
            d = 0.035 + 0.27 * step / 8
            wobble = 0.008 * math.sin(2 * math.pi * step / 8)  # the clavicle's gentle S-curve
            points.append((0.5 + sign * d, height - rise * (d - 0.035) + wobble))
        lines.append((points, 0.022))
    return draw_lines(grid.size, lines)


def frontal_scene(anatomy: Anatomy, mods: Modifiers, view: str, size: int) -> Scene:
    grid = Grid(size)
    x, y = grid.x, grid.y
    bend = _spine_bend(grid, mods)
    body = grid.soft(
        (1.0 - (np.abs((x - 0.5) / anatomy.thorax_half_width) ** 4 + np.abs((y - 0.64) / 0.64) ** 6)) * 0.1
    )
    # Heart: an asymmetric ellipse, larger towards the patient's left, resting on the diaphragm.
    scale = mods.heart_scale * (1.1 if view == "AP" else 1.0)  # AP magnifies the anterior heart
    base = min(_base(anatomy, "right", mods), _base(anatomy, "left", mods))
    centre = (0.5, base - anatomy.dome_height * (1 - mods.flatten) - 0.55 * anatomy.heart_height)
    reach = np.where(x < 0.5, anatomy.heart_right, anatomy.heart_left) * scale
    heart = grid.soft(
        (1.0 - np.sqrt(((x - 0.5) / reach) ** 2 + ((y - centre[1]) / anatomy.heart_height) ** 2)) * 0.1
    )
    hila = {
        side: (0.5 + SIGN[side] * (anatomy.mediastinum_half_width + 0.035), 0.42 + 0.5 * mods.diaphragm_drop)
        for side in SIDES
    }
    lungs = {side: _lung(grid, anatomy, side, mods) * (1.0 - 0.9 * heart) for side in SIDES}

    half = anatomy.mediastinum_half_width
    mediastinum = grid.soft(np.minimum(half - np.abs(x - 0.5), y - 0.0)) * (y < centre[1])
    knob = grid.ellipse((0.5 + half + 0.2 * anatomy.aortic_knob, 0.29), anatomy.aortic_knob, anatomy.aortic_knob)
    trachea = grid.soft(np.minimum(0.016 - np.abs(x - 0.5 - bend), 0.32 - y))
    dense = 0.28 * np.maximum(mediastinum, knob) + 0.36 * heart - 0.14 * trachea
    for hx, hy in hila.values():
        dense += 0.14 * grid.gauss((hx, hy), 0.03, 0.05)

    spine_band = grid.soft(anatomy.spine_half_width - np.abs(x - 0.5 - bend))
    vertebrae = 0.8 + 0.2 * np.cos(2 * np.pi * y / 0.045)  # bodies and disc spaces
    bone = 0.10 * _ribs(grid, anatomy, bend, mods) + 0.25 * _clavicles(grid, anatomy, view)
    bone += 0.2 * spine_band * vertebrae

    # Below the diaphragm: liver on the image left, stomach with its air bubble on the image right.
    abdomen = np.zeros_like(x)
    for side in SIDES:
        u = (SIGN[side] * (x - 0.5) - half) / anatomy.lung_half_width
        dome = anatomy.dome_height * (1 - mods.flatten) * (1 - ((np.clip(u, -1, 1.4) - 0.35) / 0.65) ** 2)
        below = grid.soft(y - (_base(anatomy, side, mods) - dome))
        abdomen = np.maximum(abdomen, below * (SIGN[side] * (x - 0.5) >= 0))
    bx, by, br = anatomy.gastric_bubble
    bubble_centre = (0.5 + bx + 0.05, _base(anatomy, "left", mods) + by)
    dense -= 0.18 * grid.ellipse(bubble_centre, br * 1.3, br) * abdomen

    box = {}
    costophrenic = {}
    apices = {}
    for side in SIDES:
        inner = 0.5 + SIGN[side] * half
        outer = 0.5 + SIGN[side] * (half + anatomy.lung_half_width)
        box[side] = (min(inner, outer), max(inner, outer), anatomy.lung_top, _base(anatomy, side, mods))
        costophrenic[side] = (outer, _base(anatomy, side, mods))
        apices[side] = (0.5 + SIGN[side] * (half + 0.45 * anatomy.lung_half_width), anatomy.lung_top)
    return Scene(
        grid=grid,
        body=body,
        abdomen=abdomen * body,
        lungs=lungs,
        dense=dense.astype(np.float32),
        bone=bone.astype(np.float32),
        vessels=lung_markings(grid, anatomy, [(hila[side], 0.0 if side == "left" else math.pi) for side in SIDES]),
        hila=hila,
        apices=apices,
        costophrenic=costophrenic,
        outward=dict(SIGN),
        lung_box=box,
    )
