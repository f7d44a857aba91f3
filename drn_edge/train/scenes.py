"""Generated training scenes: a dead-leaves model of natural images (--dead-leaves).

Why: a model learns to take rain away only over scenes like the ones it trained on, and the road frames and the few
bundled photos are too few kinds of texture: the same rain is removed far better over road frames than over
Rain100L's photographs (`python benchmarks/scene_check.py`; the figures: docs/levers.md, "The scene beneath the rain").
Dead leaves (Lee, Mumford and Huang 2001: opaque shapes of random colour and texture whose sizes follow a power law,
occluding one another) share natural images' scale-invariant statistics, and restoration networks trained on them
come close to ones trained on photographs (Achddou et al. 2021). Nothing here is read from disk: any licence allows it.
"""
from __future__ import annotations

import numpy as np

__all__ = ["LEAF_TEXTURES", "dead_leaves"]

LEAF_RADIUS = (3.0, 0.45)   # smallest leaf radius in px, largest as a share of the scene's side
LEAVES = (500, 900)         # shapes drawn, back to front
# a leaf's own texture: none, fine grain (filtered noise), a soft grating (period in px) or, in the rich style, fractal
# noise (power spectrum ~ 1/f^slope: bark, foliage, rock, fur at a distance), with its contrast (grey levels);
# the rich style also lights half the leaves with a ramp (shading across a surface), and keeps run 12's plain
# style drawable (its random stream) for its command
LEAF_TEXTURES = {"plain": {"flat": 0.4, "grain": 0.4, "grating": 0.2},
                 "rich": {"flat": 0.15, "grain": 0.2, "grating": 0.1, "fractal": 0.55}}
GRAIN_CONTRAST, GRATING_CONTRAST, GRATING_PERIOD = (4.0, 40.0), (8.0, 45.0), (4.0, 24.0)
FRACTAL_CONTRAST, FRACTAL_SLOPE = (10.0, 70.0), (1.6, 2.8)  # std in grey levels; spectrum slope
SHADING_SHARE, SHADING_CONTRAST = 0.5, (10.0, 70.0)          # rich only: lit leaves, ramp end to end in grey levels
DEPTH_BLUR_SHARE, DEPTH_BLUR = 0.4, (0.4, 1.6)  # some scenes are soft (focus, motion): Gaussian sigma in px


def _leaf_radius(rng: np.random.Generator, side: int) -> float:
    """Radius with density ~ r^-3 between the bounds: the power law that makes dead leaves scale-invariant."""
    r_min, r_max = LEAF_RADIUS[0], max(LEAF_RADIUS[0] + 1, LEAF_RADIUS[1] * side)
    u = rng.random()
    return float(r_min / np.sqrt(1.0 - u * (1.0 - (r_min / r_max) ** 2)))


def _colour(rng: np.random.Generator) -> np.ndarray:
    """A random colour of moderate saturation (natural scenes are rarely saturated), as float RGB in 0-255."""
    import cv2

    hsv = np.array([[[rng.uniform(0, 180), rng.uniform(0, 150) * rng.random() ** 2, rng.uniform(20, 245)]]], np.uint8)
    return cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)[0, 0].astype(np.float32)


def _shading(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """HxW ramp of light across a leaf in a random direction (a lit surface), zero mean."""
    a = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ramp = xx * np.cos(a) + yy * np.sin(a)
    return (ramp - ramp.mean()) / max(float(np.ptp(ramp)), 1.0) * rng.uniform(*SHADING_CONTRAST)


def _fractal(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """HxW noise with a power spectrum ~ 1/f^slope (natural textures' statistics), std 1."""
    f = np.sqrt(np.fft.fftfreq(h)[:, None] ** 2 + np.fft.rfftfreq(w)[None, :] ** 2)
    f[0, 0] = 1.0
    spectrum = np.fft.rfft2(rng.standard_normal((h, w))) / f ** (rng.uniform(*FRACTAL_SLOPE) / 2)
    spectrum[0, 0] = 0
    noise = np.fft.irfft2(spectrum, s=(h, w)).astype(np.float32)
    return noise / max(float(noise.std()), 1e-6)


def _texture(rng: np.random.Generator, h: int, w: int, style: str) -> np.ndarray:
    """HxW float luminance offset of one leaf: flat, fine grain, a soft grating or fractal noise (+ shading: rich)."""
    shares = LEAF_TEXTURES[style]
    kind = rng.choice(list(shares), p=list(shares.values()))
    lit = _shading(rng, h, w) if style == "rich" and rng.random() < SHADING_SHARE else 0.0
    return _pattern(rng, h, w, kind) + lit


def _pattern(rng: np.random.Generator, h: int, w: int, kind: str) -> np.ndarray:
    """HxW float luminance pattern of one texture kind, zero mean."""
    import cv2

    if kind == "flat":
        return np.zeros((h, w), np.float32)
    if kind == "fractal":
        return _fractal(rng, h, w) * rng.uniform(*FRACTAL_CONTRAST)
    if kind == "grain":
        noise = rng.standard_normal((h, w)).astype(np.float32)
        noise = cv2.GaussianBlur(noise, (0, 0), rng.uniform(0.5, 2.5))
        return noise / max(float(noise.std()), 1e-6) * rng.uniform(*GRAIN_CONTRAST) / 2
    period, angle = rng.uniform(*GRATING_PERIOD), rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = (xx * np.cos(angle) + yy * np.sin(angle)) * (2 * np.pi / period) + rng.uniform(0, 2 * np.pi)
    return np.sin(phase) * rng.uniform(*GRATING_CONTRAST) / 2


def _leaf_mask(rng: np.random.Generator, r: float) -> np.ndarray:
    """Antialiased alpha (0-1) of one shape, an ellipse or a rotated rectangle, in a box of side 2r+3."""
    import cv2

    n = int(2 * r) + 3
    mask = np.zeros((n, n), np.uint8)
    centre, angle = (n / 2, n / 2), float(rng.uniform(0, 180))
    axes = (r, r * rng.uniform(0.3, 1.0))
    if rng.random() < 0.7:
        cv2.ellipse(mask, (round(centre[0] * 16), round(centre[1] * 16)), (round(axes[0] * 16), round(axes[1] * 16)),
                    angle, 0, 360, 255, -1, cv2.LINE_AA, 4)
    else:
        box = cv2.boxPoints((centre, (2 * axes[0], 2 * axes[1]), angle))
        cv2.fillPoly(mask, [np.round(box * 16).astype(np.int32)], 255, cv2.LINE_AA, 4)
    return mask.astype(np.float32) / 255.0


def dead_leaves(rng: np.random.Generator, side: int, style: str = "plain") -> np.ndarray:
    """A side x side uint8 RGB dead-leaves scene: textured shapes of power-law sizes occluding one another.

    style: a key of LEAF_TEXTURES (the leaves' own textures).
    """
    import cv2

    img = np.empty((side, side, 3), np.float32)
    img[:] = _colour(rng)
    for _ in range(int(rng.integers(*LEAVES))):
        r = _leaf_radius(rng, side)
        alpha = _leaf_mask(rng, r)
        n = alpha.shape[0]
        y0, x0 = int(rng.integers(-n // 2, side - n // 2)), int(rng.integers(-n // 2, side - n // 2))
        ys, xs = slice(max(y0, 0), min(y0 + n, side)), slice(max(x0, 0), min(x0 + n, side))
        a = alpha[ys.start - y0: ys.stop - y0, xs.start - x0: xs.stop - x0, None]
        if a.size == 0:
            continue
        leaf = _colour(rng) + _texture(rng, a.shape[0], a.shape[1], style)[..., None]
        img[ys, xs] = img[ys, xs] * (1 - a) + leaf * a
    if rng.random() < DEPTH_BLUR_SHARE:
        img = cv2.GaussianBlur(img, (0, 0), rng.uniform(*DEPTH_BLUR))
    return np.clip(img + 0.5, 0, 255).astype(np.uint8)
