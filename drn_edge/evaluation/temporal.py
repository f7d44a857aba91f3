"""Temporal stability of a clip: the flow-compensated warping error.

Per-frame PSNR cannot see flicker: a derainer that removes different streak fragments in
consecutive frames scores well on each frame and still shimmers. We use the warping error of
Lai et al., "Learning Blind Video Temporal Consistency" (ECCV 2018), eq. 8, with L1 instead of L2
(robust to a few badly warped pixels, and in grey levels a reader can picture):

    E_warp(t) = sum_p M_t(p) * |V_t(p) - W(V_{t-1})(p)| / sum_p M_t(p)

W warps the previous frame with the optical flow between the *clean* frames (OpenCV's Farneback
dense flow; computed on the clean clip so rain cannot corrupt the motion, and the same flow for
every version of the clip), and M_t masks pixels that fail a forward-backward consistency check
(occlusions, as in Lai et al. and Ruder et al. 2016). A perfect derainer has the clean clip's
warping error (flow is never exact); what a derainer adds on top of it is its flicker.
Values are mean absolute grey levels (0-255) over all channels.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from drn_edge.errors import ImageError

__all__ = ["ClipMotion", "clip_motion", "warping_errors"]

CONSISTENCY_PX = 0.5  # forward-backward tolerance: |f + b|^2 < 0.01 (|f|^2 + |b|^2) + CONSISTENCY_PX


@dataclass(frozen=True)
class ClipMotion:
    """For each frame t >= 1: sampling maps that warp frame t-1 onto frame t, and the valid-pixel mask."""

    maps: tuple[tuple[np.ndarray, np.ndarray], ...]
    masks: tuple[np.ndarray, ...]

    @property
    def valid_fraction(self) -> float:
        return float(np.mean([m.mean() for m in self.masks])) if self.masks else 0.0


def _flow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return cv2.calcOpticalFlowFarneback(a, b, None, pyr_scale=0.5, levels=4, winsize=21, iterations=3, poly_n=7,
                                        poly_sigma=1.5, flags=0)


def clip_motion(clean_frames: Sequence[np.ndarray]) -> ClipMotion:
    """Motion between consecutive clean HxWx3 uint8 frames (any channel order)."""
    if len(clean_frames) < 2:
        raise ImageError(f"temporal stability needs at least 2 frames, got {len(clean_frames)}")
    h, w = clean_frames[0].shape[:2]
    gy, gx = np.mgrid[0:h, 0:w].astype(np.float32)
    grey = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in clean_frames]
    maps, masks = [], []
    for prev, cur in zip(grey[:-1], grey[1:]):
        back = _flow(cur, prev)     # for each pixel of frame t: where it was in frame t-1
        fwd = _flow(prev, cur)
        mx, my = gx + back[..., 0], gy + back[..., 1]
        fwd_at = cv2.remap(fwd, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=np.nan)
        total = back + fwd_at
        err = (total ** 2).sum(-1)
        tol = 0.01 * ((back ** 2).sum(-1) + (fwd_at ** 2).sum(-1)) + CONSISTENCY_PX
        inside = (mx >= 0) & (mx <= w - 1) & (my >= 0) & (my <= h - 1)
        masks.append((inside & np.isfinite(err) & (err < tol)).astype(np.float32))
        maps.append((mx, my))
    return ClipMotion(tuple(maps), tuple(masks))


def warping_errors(frames: Sequence[np.ndarray], motion: ClipMotion) -> list[float]:
    """E_warp for frames 1..T-1 of a clip (same length and size as the clip `motion` came from)."""
    if len(frames) != len(motion.maps) + 1:
        raise ImageError(f"clip has {len(frames)} frames but the motion was measured on {len(motion.maps) + 1}")
    out = []
    for t, ((mx, my), mask) in enumerate(zip(motion.maps, motion.masks), start=1):
        prev = cv2.remap(frames[t - 1].astype(np.float32), mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        diff = np.abs(frames[t].astype(np.float32) - prev).mean(axis=2)
        out.append(float((diff * mask).sum() / max(mask.sum(), 1.0)))
    return out
