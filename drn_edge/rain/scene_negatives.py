"""Bright scene content that is not rain: drawn into the *clean* frame, so the model learns to keep it.

Why: the model removes what rain looks like, and bright thin lines and bright specks look like rain.
The shipped models erased a steep lane line on a winter frame and took the sun's glitter on water
for streaks. Adding such content to the clean image (and so to both the rainy input and the
target) makes it a hard negative: a pixel the loss punishes the model for touching.

Each structure is drawn at the scale of the source frame (``s`` = frame height / 720):

- lane markings: solid or dashed, white or yellow, 3-16 px wide, steep ones as often as flat ones;
- poles and wires: long thin lines, bright (lit, metallic) or dark;
- glitter: a cluster of tiny bright specks (sun on water, wet asphalt, ice);
- glare and headlights: soft bright discs with a halo, sometimes in a dark scene;
- snow and frost: fine bright texture over part of the frame;
- the scene's own light: darker (dusk, night) or bright and flat (overcast) versions of the frame.
"""
from __future__ import annotations

import cv2
import numpy as np

from drn_edge.imageio import to_float01, to_uint8

__all__ = ["add_scene_negatives", "NEGATIVE_KINDS"]

NEGATIVE_KINDS = ("lane", "pole", "glitter", "glare", "snow", "light")


def _lane(img: np.ndarray, rng: np.random.Generator, s: float) -> None:
    h, w = img.shape[:2]
    colour = (1.0, 1.0, 1.0) if rng.random() < 0.7 else (1.0, 0.85, 0.25)
    value = np.array(colour, np.float32) * rng.uniform(0.7, 1.0)
    angle = np.deg2rad(rng.uniform(-30, 30) if rng.random() < 0.6 else rng.uniform(-80, 80))
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    length = max(h, w) * 1.5
    dx, dy = np.sin(angle) * length / 2, np.cos(angle) * length / 2
    width = max(1, int(round(rng.uniform(3, 16) * s)))
    dashed = rng.random() < 0.4
    steps = 12 if dashed else 1
    for i in range(steps):
        if dashed and i % 2:
            continue
        a, b = i / steps, (i + 1) / steps
        p0 = (int((cx - dx + 2 * dx * a) * 16), int((cy - dy + 2 * dy * a) * 16))
        p1 = (int((cx - dx + 2 * dx * b) * 16), int((cy - dy + 2 * dy * b) * 16))
        cv2.line(img, p0, p1, tuple(float(v) for v in value), width, lineType=cv2.LINE_AA, shift=4)


def _pole(img: np.ndarray, rng: np.random.Generator, s: float) -> None:
    h, w = img.shape[:2]
    bright = rng.random() < 0.6
    value = float(rng.uniform(0.75, 1.0) if bright else rng.uniform(0.0, 0.2))
    angle = np.deg2rad(rng.uniform(-8, 8) if rng.random() < 0.5 else rng.uniform(60, 120))  # poles, then wires
    cx, cy = rng.uniform(0, w), rng.uniform(0, h)
    length = max(h, w) * 1.5
    dx, dy = np.sin(angle) * length / 2, np.cos(angle) * length / 2
    width = max(1, int(round(rng.uniform(1, 4) * s)))
    cv2.line(img, (int((cx - dx) * 16), int((cy - dy) * 16)), (int((cx + dx) * 16), int((cy + dy) * 16)),
             (value, value, value), width, lineType=cv2.LINE_AA, shift=4)


def _glitter(img: np.ndarray, rng: np.random.Generator, s: float) -> None:
    h, w = img.shape[:2]
    cy, cx = rng.uniform(0, h), rng.uniform(0, w)
    ry, rx = rng.uniform(0.1, 0.4) * h, rng.uniform(0.15, 0.6) * w
    n = int(rng.uniform(50, 600))
    ys, xs = rng.normal(cy, ry / 2, n), rng.normal(cx, rx / 2, n)
    specks = np.zeros((h, w), np.float32)
    ok = (ys >= 0) & (ys < h) & (xs >= 0) & (xs < w)
    specks[ys[ok].astype(int), xs[ok].astype(int)] = rng.uniform(0.5, 1.0, int(ok.sum()))
    if rng.random() < 0.5:  # glints are stretched sideways on rippled water
        k = np.ones((1, max(1, int(round(rng.uniform(1, 5) * s)))), np.float32)
        specks = cv2.filter2D(specks, -1, k)
    specks = cv2.GaussianBlur(specks, (0, 0), max(0.5, 0.7 * s))
    specks = np.clip(specks / max(float(specks.max()), 1e-6), 0, 1)[..., None]
    img[:] = 1 - (1 - img) * (1 - specks)


def _glare(img: np.ndarray, rng: np.random.Generator, s: float) -> None:
    h, w = img.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for _ in range(int(rng.integers(1, 4))):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        core = rng.uniform(3, 25) * s
        d2 = (yy - cy) ** 2 + (xx - cx) ** 2
        disc = np.exp(-d2 / (2 * core * core)) + 0.35 * np.exp(-d2 / (2 * (core * rng.uniform(3, 8)) ** 2))
        tint = np.array([1.0, rng.uniform(0.85, 1.0), rng.uniform(0.6, 1.0)], np.float32)
        light = np.clip(disc, 0, 1)[..., None] * tint
        img[:] = 1 - (1 - img) * (1 - light)


def _snow(img: np.ndarray, rng: np.random.Generator, s: float) -> None:
    h, w = img.shape[:2]
    texture = rng.random((h, w)).astype(np.float32)
    texture = cv2.GaussianBlur(texture, (0, 0), max(1.0, rng.uniform(1.0, 3.0) * s))
    texture = np.clip((texture - texture.mean()) / (texture.std() + 1e-6) * 0.25 + 0.5, 0, 1)
    region = cv2.resize(rng.uniform(0, 1, (3, 4)).astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
    mask = np.clip((region - 0.5) * 3, 0, 1)[..., None]
    snow = 0.7 + 0.3 * texture[..., None]
    img[:] = img * (1 - mask) + snow * mask


def _light(img: np.ndarray, rng: np.random.Generator, s: float) -> None:
    if rng.random() < 0.5:  # dusk or night: darker, warmer
        gain, gamma = rng.uniform(0.15, 0.7), rng.uniform(1.0, 1.8)
        img[:] = (img ** gamma) * gain * np.array([1.0, 0.95, rng.uniform(0.75, 1.0)], np.float32)
    else:  # overcast: bright and flat, which a veil remover would darken
        flat = rng.uniform(0.3, 0.7)
        img[:] = img * (1 - flat) + flat * rng.uniform(0.7, 0.95)


_DRAW = {"lane": _lane, "pole": _pole, "glitter": _glitter, "glare": _glare, "snow": _snow, "light": _light}
assert set(_DRAW) == set(NEGATIVE_KINDS)


def add_scene_negatives(clean_uint8: np.ndarray, rng: np.random.Generator, frame_height: float,
                        count: int | None = None) -> np.ndarray:
    """The clean HxWx3 uint8 crop with 1-3 random bright structures (or a change of light) drawn in."""
    img = to_float01(clean_uint8)
    s = frame_height / 720.0
    n = int(rng.integers(1, 4)) if count is None else count
    for kind in rng.choice(NEGATIVE_KINDS, size=n, p=(0.25, 0.15, 0.2, 0.15, 0.1, 0.15)):
        _DRAW[str(kind)](img, rng, s)
    return to_uint8(img)
