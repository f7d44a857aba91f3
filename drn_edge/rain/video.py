"""Rain that moves: the rain family rendered over a clip, coherent in time.

A single-frame render draws new streaks every call, so a clip rained frame by frame flickers in a
way no camera sees. Here each streak is a particle that lives for many frames: every depth layer
of one `RainSpec` draw falls with its own speed along its wind angle, streaks enter at the top
(or the upwind side) and leave at the bottom, lens drops stay on the lens, and only splashes are
drawn anew each frame (they last a frame or two on a real road).

Speed: a streak is the blur of one drop over the exposure, so a drop moves about its own streak
length per exposure; at a typical exposure of half the frame time it moves 1.3-2.6 streak
lengths between frames. Near (long) streaks therefore move fast, far (short) ones slowly, which is
the parallax a road camera sees.

Everything else (levels, generators, sizes relative to the frame height) is the family's:
medium rain on a clip frame looks like medium rain on a still. Same seed, same clip.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from drn_edge.errors import ImageError
from drn_edge.imageio import to_float01, to_uint8
from drn_edge.rain.family import (
    GENERATORS,
    LEVEL_INTENSITY,
    REF_HEIGHT,
    RainSpec,
    StreakLayer,
    apply_drops,
    lens_drop_mask,
    line_kernel,
    sample_spec,
    splash_layer,
    veil_field,
)

__all__ = ["RainClip", "rain_clip", "FALL_PER_FRAME"]

FALL_PER_FRAME = (1.3, 2.6)  # streak lengths a drop falls between two frames (see the module docstring)


@dataclass
class _MovingLayer:
    """One depth layer's particles; positions are streak centres in a box larger than the frame."""

    spec: StreakLayer
    kernel: np.ndarray | None   # None: particles drawn one by one (the held-out `particles` style)
    xs: np.ndarray
    ys: np.ndarray
    values: np.ndarray
    step: tuple[float, float]   # (dx, dy) per frame
    margin: float
    lengths: np.ndarray | None = None
    angles: np.ndarray | None = None


class RainClip:
    """Rain over a clip of height x width frames; call it on each clean uint8 frame in order.

    clip = RainClip(720, 1280, "medium", seed=3); rainy = [clip(f) for f in frames]
    `layer()` gives the next frame's rain opacity alone (what `__call__` blends).
    """

    def __init__(self, height: int, width: int, level: str = "medium", generator: str = "streaks", seed: int = 0,
                 spec: RainSpec | None = None):
        if level not in LEVEL_INTENSITY:
            raise ValueError(f"rain level must be one of {sorted(LEVEL_INTENSITY)}, got {level!r}")
        if generator not in GENERATORS:
            raise ValueError(f"rain generator must be one of {GENERATORS}, got {generator!r}")
        if not (isinstance(height, int) and isinstance(width, int) and height >= 8 and width >= 8):
            raise ImageError(f"RainClip needs a frame size of at least 8x8 pixels, got {height}x{width}")
        self.height, self.width, self.level, self.generator, self.seed = height, width, level, generator, seed
        rng = np.random.default_rng(seed)
        self.spec = spec or sample_spec(rng, generator, LEVEL_INTENSITY[level])
        self._rng = rng
        self._scale = height / REF_HEIGHT
        self._layers = [self._make_layer(lay) for lay in self.spec.layers]
        self._veil = (np.clip(self.spec.veil * veil_field(height, width, self.spec.veil_mode, rng), 0, 0.9)[..., None]
                      if self.spec.veil > 0 else None)
        self._airlight = np.float32(rng.uniform(0.75, 1.0))
        self._tint = np.float32(rng.uniform(0.85, 1.0))
        # lens drops stay on the lens for the whole clip
        self._drop_mask = lens_drop_mask(height, width, self.spec.drops, rng, self._scale) if self.spec.drops else None
        self.frame_index = 0

    # ------------------------------------------------------------------ set-up
    def _make_layer(self, lay: StreakLayer) -> _MovingLayer:
        rng, s, h, w = self._rng, self._scale, self.height, self.width
        length = max(2.0, lay.length * h)
        speed = length * rng.uniform(*FALL_PER_FRAME)
        a = np.deg2rad(lay.angle)
        step = (float(np.sin(a) * speed), float(np.cos(a) * speed))
        margin = length + speed + 4 * max(1.0, lay.width * s)
        box = (h + 2 * margin) * (w + 2 * margin)
        if self.spec.style == "particles":
            width_px = max(1, int(round(lay.width * s)))
            n = int(min(20000, lay.coverage * box / (length * width_px)))
            xs, ys = rng.uniform(-margin, w + margin, n), rng.uniform(-margin, h + margin, n)
            return _MovingLayer(lay, None, xs, ys, rng.uniform(0.4, 1.0, n), step, margin,
                                lengths=length * rng.lognormal(0, 0.35, n),
                                angles=np.deg2rad(lay.angle + rng.normal(0, 4, n)))
        kernel = line_kernel(length, lay.angle, lay.width * s if self.spec.style == "kernel" else 1.0)
        area = max(float((kernel > 0.2).sum()), 1.0)
        # the Photoshop recipe makes thin streaks from many faint seeds (matched to drn_edge.rain.family by input PSNR)
        density = lay.coverage / length if self.spec.style == "photoshop" else lay.coverage / area
        n = int(rng.poisson(min(0.5, density) * box))
        xs, ys = rng.uniform(-margin, w + margin, n), rng.uniform(-margin, h + margin, n)
        return _MovingLayer(lay, kernel, xs, ys, rng.uniform(0.5, 1.0, n), step, margin)

    # ------------------------------------------------------------------ per frame
    def _advance(self, m: _MovingLayer) -> None:
        """Move every particle one frame; those that left the box re-enter on the far side at a new place."""
        h, w = self.height, self.width
        m.xs += m.step[0]
        m.ys += m.step[1]
        span_y, span_x = h + 2 * m.margin, w + 2 * m.margin
        out_y = (m.ys > h + m.margin) | (m.ys < -m.margin)
        if out_y.any():
            m.ys[out_y] -= np.sign(m.step[1] or 1.0) * span_y
            m.xs[out_y] = self._rng.uniform(-m.margin, w + m.margin, int(out_y.sum()))
        out_x = (m.xs > w + m.margin) | (m.xs < -m.margin)
        if out_x.any():
            m.xs[out_x] -= np.sign(m.step[0]) * span_x

    def _render_layer(self, m: _MovingLayer) -> np.ndarray:
        h, w = self.height, self.width
        if m.kernel is None:
            out = np.zeros((h, w), np.float32)
            width_px = max(1, int(round(m.spec.width * self._scale)))
            dx, dy = np.sin(m.angles) * m.lengths / 2, np.cos(m.angles) * m.lengths / 2
            visible = (m.xs + np.abs(dx) > 0) & (m.xs - np.abs(dx) < w) & (m.ys + np.abs(dy) > 0) & (m.ys - np.abs(dy) < h)
            for x, y, hx, hy, v in zip(m.xs[visible], m.ys[visible], dx[visible], dy[visible], m.values[visible]):
                cv2.line(out, (int((x - hx) * 16), int((y - hy) * 16)), (int((x + hx) * 16), int((y + hy) * 16)),
                         float(v), width_px, lineType=cv2.LINE_AA, shift=4)
            return np.clip(out, 0, 1)
        pad = m.kernel.shape[0] // 2 + 1  # streaks whose centre is just outside still reach into the frame
        canvas = np.zeros((h + 2 * pad, w + 2 * pad), np.float32)
        xi, yi = np.rint(m.xs).astype(np.int64) + pad, np.rint(m.ys).astype(np.int64) + pad
        inside = (xi >= 0) & (xi < w + 2 * pad) & (yi >= 0) & (yi < h + 2 * pad)
        np.add.at(canvas, (yi[inside], xi[inside]), m.values[inside].astype(np.float32))
        canvas = cv2.filter2D(canvas, -1, m.kernel, borderType=cv2.BORDER_CONSTANT)
        return np.clip(canvas[pad:pad + h, pad:pad + w], 0, 1)

    def layer(self) -> np.ndarray:
        """The rain opacity (float32 HxW in [0, 1]) of the next frame; advances the clip by one frame."""
        s = self._scale
        out = np.zeros((self.height, self.width), np.float32)
        for m in self._layers:
            st = self._render_layer(m) * m.spec.brightness
            if m.spec.blur * s > 0.5:
                st = cv2.GaussianBlur(st, (0, 0), m.spec.blur * s)
            out = 1 - (1 - out) * (1 - st)
            self._advance(m)
        if self.spec.splashes:
            out = 1 - (1 - out) * (1 - splash_layer(self.height, self.width, self.spec.splashes, self._rng, s))
        self.frame_index += 1
        return out

    def __call__(self, clean: np.ndarray) -> np.ndarray:
        """The next rainy frame for a clean HxWx3 uint8 frame of the clip's size."""
        if not (isinstance(clean, np.ndarray) and clean.dtype == np.uint8 and clean.shape == (self.height, self.width, 3)):
            raise ImageError(f"RainClip({self.height}x{self.width}) takes {self.height}x{self.width}x3 uint8 frames, got "
                             f"{getattr(clean, 'shape', None)} {getattr(clean, 'dtype', type(clean).__name__)}")
        img = to_float01(clean)
        if self._drop_mask is not None:
            img = apply_drops(img, self._drop_mask, self._scale)
        rain = self.layer()[..., None] * self._tint
        out = img + rain if self.spec.blend == "add" else 1 - (1 - img) * (1 - rain)
        if self._veil is not None:
            out = out * (1 - self._veil) + self._airlight * self._veil
        return to_uint8(out)


def rain_clip(frames: Iterable[np.ndarray], level: str = "medium", generator: str = "streaks",
              seed: int = 0) -> Iterator[np.ndarray]:
    """Rainy frames for an iterable of clean same-size HxWx3 uint8 frames (sized from the first frame)."""
    clip = None
    for f in frames:
        if clip is None:
            clip = RainClip(int(f.shape[0]), int(f.shape[1]), level, generator, seed)
        yield clip(f)
