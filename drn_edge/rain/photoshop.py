"""The Photoshop rain recipe (the renderer behind Rain100L/H and Rain200L/H), and real-streak draws made with it.

The published recipe (used by Yang et al. 2017 for Rain100/Rain200): fill a layer with monochrome
Gaussian noise, blur it slightly, apply a levels adjustment whose black point keeps only sparse bright
dots, motion-blur the dots along one direction (Rain100L) or several (Rain100H), stretch the levels
again, and screen the layer over the photo. A streak made this way is a row of overlapping dots: soft,
semi-transparent, uneven along its length, unlike the crisp constant lines of a drawn kernel.

Real rain filmed from a car (NTURain, ``rainy_real/nturain_rb2``) is the same process at another point of
the parameter space: short streaks (15-30 px at 640x360), soft, faint (10-30 grey levels above their
surroundings), dense, at one angle, with fine drizzle between them. ``sample_photoshop_layers`` covers light
to heavy Rain100-style rain; ``sample_drizzle_layers`` the faint dense real look. Both return ordinary
``StreakLayer`` draws, read by ``render_layer`` as: width = dot size (px at 720p), length = motion-blur
distance (fraction of frame height), coverage = share of the noise kept as dots, brightness = opacity
after the second levels, blur = extra softness (px at 720p).
"""
from __future__ import annotations

import cv2
import numpy as np

from drn_edge.rain.streak import StreakLayer, line_kernel

__all__ = ["render_layer", "sample_photoshop_layers", "sample_drizzle_layers", "near_layer"]


def _motion_kernel(length_px: float, angle_deg: float) -> np.ndarray:
    """Photoshop's motion blur: a normalised 1 px line of `length_px` along `angle_deg` from vertical."""
    k = line_kernel(max(2.0, length_px), angle_deg, 1.0)
    return k / max(float(k.sum()), 1e-6)


def render_layer(h: int, w: int, lay, rng: np.random.Generator, s: float, frame_h: float) -> np.ndarray:
    """One recipe layer (HxW float32 in [0, 1]): noise -> blur -> levels -> motion blur -> levels."""
    noise = rng.standard_normal((h, w)).astype(np.float32)
    dot = lay.width * s / 2.0  # blur sigma that gives dots about `width` px across
    if dot > 0.3:
        noise = cv2.GaussianBlur(noise, (0, 0), dot)
        noise /= noise.std() + 1e-6
    length_px = lay.length * frame_h
    # The levels black point: keep the share of pixels that, once smeared over the streak length, covers `coverage`.
    keep = float(np.clip(lay.coverage * max(1.0, dot) / max(1.0, length_px / 2), 1e-4, 0.3))
    black = float(np.quantile(noise, 1 - keep))
    dots = np.clip((noise - black) / 0.6, 0, 1)  # a narrow levels window: dots come out near-binary, sizes vary
    streaks = cv2.filter2D(dots, -1, _motion_kernel(length_px, lay.angle), borderType=cv2.BORDER_REFLECT)
    lit = streaks[streaks > 1e-3]
    top = float(np.quantile(lit, 0.98)) if lit.size > 16 else 1.0
    out = np.clip(streaks / max(top, 1e-6), 0, 1) * lay.brightness  # the second levels: peak opacity
    if lay.blur * s > 0.3:
        out = cv2.GaussianBlur(out, (0, 0), lay.blur * s)
    return out


def near_layer(rng: np.random.Generator, angle: float, t: float):
    """A few near drops: long, soft, 2-4 px at 720p, bright (what the video section's weak case shows)."""
    return StreakLayer(depth=1.0, width=float(rng.uniform(2.0, 4.0)), length=float(rng.uniform(0.1, 0.3)),
                       angle=angle + float(rng.uniform(-3, 3)), coverage=float(rng.uniform(0.003, 0.02) * (0.5 + t)),
                       brightness=float(rng.uniform(0.35, 0.8)), blur=float(rng.uniform(0.8, 2.0)))


def sample_photoshop_layers(rng: np.random.Generator, t: float, angle: float) -> tuple:
    """Light (t ~ 0: one direction, sparse, long, thin, semi-transparent: Rain100L) to heavy (t ~ 1: up to five
    directions, dense, brighter, wider: Rain100H/Rain200H)."""
    n_dirs = 1 if t < 0.35 or rng.random() < 0.4 else int(rng.integers(2, 6))
    spread = float(rng.uniform(5, 25))
    layers = []
    for i in range(n_dirs):
        a = angle if i == 0 else angle + float(rng.uniform(-spread, spread))
        layers.append(StreakLayer(
            depth=float(rng.uniform(0, 1)), width=float(rng.uniform(1.0, 2.5 + 2.5 * t)),
            length=float(np.exp(rng.uniform(np.log(0.04), np.log(0.3)))), angle=a,
            coverage=float((0.01 + 0.12 * t) * rng.uniform(0.5, 1.5) / n_dirs ** 0.5),
            brightness=float(np.clip((0.3 + 0.6 * t) * rng.uniform(0.7, 1.3), 0.12, 1.0)),
            blur=float(rng.uniform(0, 0.8))))
    if rng.random() < 0.3:
        layers.append(near_layer(rng, angle, t))
    return tuple(layers)


def sample_drizzle_layers(rng: np.random.Generator, t: float, angle: float) -> tuple:
    """Real rain as a camera sees it: dense faint short soft streaks at one angle (10-35 grey levels), with fine
    drizzle (tiny faint dots) between them, and sometimes a few near drops."""
    layers = [StreakLayer(depth=0.3, width=float(rng.uniform(2.0, 4.0)), length=float(rng.uniform(0.03, 0.1)),
                          angle=angle + float(rng.uniform(-3, 3)), coverage=float(rng.uniform(0.15, 0.45) * (0.5 + t)),
                          brightness=float(rng.uniform(0.25, 0.6) * (0.6 + 1.0 * t)), blur=float(rng.uniform(0.4, 1.2)))
              for _ in range(int(rng.integers(1, 3)))]
    layers.append(StreakLayer(depth=0.0, width=float(rng.uniform(0.8, 1.5)), length=float(rng.uniform(0.005, 0.02)),
                              angle=angle, coverage=float(rng.uniform(0.05, 0.2)),
                              brightness=float(rng.uniform(0.08, 0.2)), blur=float(rng.uniform(0.3, 0.8))))
    if rng.random() < 0.25:
        layers.append(near_layer(rng, angle, t))
    return tuple(layers)
