"""The lateral projection: the patient's front (sternum) on the image's left, the spine on its right.

Both lungs overlap here, so a finding's side does not move it; its zone still sets its height.
"""

from __future__ import annotations

import math

import numpy as np

from medforget_data.rendering.anatomy import Anatomy
from medforget_data.rendering.scene import SIDES, Grid, Modifiers, Scene, draw_lines, lung_markings


def lateral_scene(anatomy: Anatomy, mods: Modifiers, size: int) -> Scene:
    grid = Grid(size)
    x, y = grid.x, grid.y
    # Depth of the chest scales with the patient's frontal build, so the lateral stays theirs.
    half = 0.27 * anatomy.lung_half_width / 0.16
    cx, top = 0.5, anatomy.lung_top + 0.02
    base = max(anatomy.diaphragm_right, anatomy.diaphragm_left) + mods.diaphragm_drop
    dome = anatomy.dome_height * 1.3 * (1.0 - mods.flatten)
    body = grid.soft(
        (1.0 - (np.abs((x - 0.5) / (anatomy.thorax_half_width * 0.95)) ** 3 + np.abs((y - 0.64) / 0.64) ** 6))
        * 0.1
    )
    s = np.clip((y - top) / (base - top), 0.0, 1.0)
    across = (x - cx) / half
    # Posterior costophrenic sulcus (image right) runs deepest, the anterior one is shallower.
    floor_line = base - dome * (1.0 - (across + 0.1) ** 2) + 0.035 * across
    lung = grid.soft(
        np.minimum(
            np.minimum(half * (1.0 - 0.5 * (1.0 - s) ** 3) - np.abs(x - cx), floor_line - y),
            y - top - 0.5 * half * across**2,
        )
    )
    # Heart: anterior and inferior, its front against the sternum; enlargement grows backwards.
    heart_rx = 0.5 * (anatomy.heart_left + anatomy.heart_right) * 0.9 * mods.heart_scale
    heart_centre = (cx - 0.8 * half + heart_rx, base - dome - 0.45 * anatomy.heart_height)
    heart = grid.ellipse(heart_centre, heart_rx, anatomy.heart_height)
    lung = lung * (1.0 - 0.9 * heart)
    hila = {side: (cx + 0.03 + (0.01 if side == "left" else -0.01), 0.42) for side in SIDES}

    spine_x = cx + half + 0.06 + 0.03 * np.sin(np.pi * y)  # thoracic kyphosis
    spine_x = spine_x + 0.5 * mods.spine_bend * np.sin(np.pi * y)  # scoliosis shows as a bowed column
    column = grid.soft(0.045 - np.abs(x - spine_x)) * (y < base + 0.15)
    discs = 0.75 + 0.25 * (np.cos(2 * np.pi * y / 0.06) > -0.6)
    sternum = draw_lines(size, [([(cx - half - 0.03, 0.2), (cx - half - 0.01, 0.58)], 0.02)])
    ribs = np.cos(2 * np.pi * (y - 0.5 * (x - cx)) / anatomy.rib_spacing) > 0.5
    bone = 0.28 * column * discs + 0.22 * sternum + 0.06 * ribs * lung
    trachea = draw_lines(size, [([(cx - 0.04, 0.0), (cx + 0.02, 0.38)], 0.032)])
    dense = 0.36 * heart + 0.12 * grid.gauss(hila["left"], 0.05, 0.05) - 0.12 * trachea

    abdomen = grid.soft(y - floor_line) * body
    bx, by, br = anatomy.gastric_bubble
    dense -= 0.16 * grid.ellipse((cx - 0.5 * half + bx, base + by), br * 1.3, br) * abdomen

    box = (cx - half, cx + half, top, base)
    markings = lung_markings(grid, anatomy, [(hila["left"], a) for a in (0.0, math.pi, -math.pi / 2)])
    return Scene(
        grid=grid,
        body=body,
        abdomen=abdomen,
        lungs={side: lung for side in SIDES},
        dense=dense.astype(np.float32),
        bone=bone.astype(np.float32),
        vessels=markings,
        hila=hila,
        apices={side: (cx, top) for side in SIDES},
        costophrenic={side: (cx + half, base + 0.035) for side in SIDES},
        outward={side: 1.0 for side in SIDES},
        lung_box={side: box for side in SIDES},
    )
