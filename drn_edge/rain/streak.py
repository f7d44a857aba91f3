"""One streak layer's parameters and the anti-aliased line every streak renderer draws with."""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

__all__ = ["StreakLayer", "line_kernel"]


@dataclass(frozen=True)
class StreakLayer:
    depth: float        # 0 far .. 1 near
    width: float        # px at 720p
    length: float       # fraction of frame height
    angle: float        # degrees from vertical
    coverage: float     # fraction of pixels covered
    brightness: float   # peak opacity
    blur: float         # defocus, px at 720p



def line_kernel(length: float, angle_deg: float, width: float) -> np.ndarray:
    length = max(2.0, length)
    pad = int(np.ceil(width)) + 2
    size = int(np.ceil(length)) + 2 * pad
    size += 1 - size % 2
    k = np.zeros((size, size), np.float32)
    c = size / 2 - 0.5
    a = np.deg2rad(angle_deg)
    dx, dy = np.sin(a) * length / 2, np.cos(a) * length / 2
    shift = 4  # sub-pixel precision for thin, anti-aliased lines
    p0 = (int(round((c - dx) * 16)), int(round((c - dy) * 16)))
    p1 = (int(round((c + dx) * 16)), int(round((c + dy) * 16)))
    cv2.line(k, p0, p1, 1.0, max(1, int(round(width))), lineType=cv2.LINE_AA, shift=shift)
    if width < 1:
        k *= width
    return k
