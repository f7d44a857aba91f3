"""A held-out rain model of another kind: every drop placed in depth and imaged through a lens (never trained on).

Each drop gets a distance z (log-uniform, 0.5 m to 20 m) in front of a camera focused at z_f: its streak
length and width shrink as 1/z (motion during the exposure and drop size, projected), and it is defocused by
a blur that grows with |1/z - 1/z_f|; a defocused drop spreads the same light over more pixels, so it is
fainter. Nothing here is a convolution kernel or a noise threshold: it measures whether a model removes rain
that was not drawn the way its training rain was.
"""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ["render_depth_of_field"]

DEPTH_BINS = 5


def render_depth_of_field(h: int, w: int, lay, rng: np.random.Generator, s: float, frame_h: float) -> np.ndarray:
    z_focus = float(rng.uniform(2.0, 8.0))
    edges = np.exp(np.linspace(np.log(0.5), np.log(20.0), DEPTH_BINS + 1))
    out = np.zeros((h, w), np.float32)
    for near, far in zip(edges[:-1], edges[1:]):
        z = float(np.sqrt(near * far))
        scale = 2.0 / z  # 1 at 2 m
        length = max(2.0, lay.length * frame_h * scale)
        width = max(1, int(round(lay.width * s * min(scale, 2.0))))
        defocus = 1.5 * s * abs(1.0 / z - 1.0 / z_focus) * 4.0
        # drops per bin: equal counts per log-depth bin, thinned to the layer's coverage
        n = int(min(8000, lay.coverage * h * w / (length * width) / DEPTH_BINS))
        layer = np.zeros((h, w), np.float32)
        xs, ys = rng.uniform(-0.1 * w, 1.1 * w, n), rng.uniform(-0.1 * h, 1.1 * h, n)
        angs = np.deg2rad(lay.angle + rng.normal(0, 2, n))
        lens = length * rng.uniform(0.7, 1.3, n)
        for x, y, ln, a in zip(xs, ys, lens, angs):
            dx, dy = np.sin(a) * ln, np.cos(a) * ln
            cv2.line(layer, (int(x * 16), int(y * 16)), (int((x + dx) * 16), int((y + dy) * 16)), 1.0, width,
                     lineType=cv2.LINE_AA, shift=4)
        if defocus > 0.3:
            layer = cv2.GaussianBlur(layer, (0, 0), defocus)
        fade = width / (width + 2.0 * defocus)
        out = 1 - (1 - out) * (1 - np.clip(layer * lay.brightness * fade, 0, 1))
    return out
