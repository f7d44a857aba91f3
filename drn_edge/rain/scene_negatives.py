"""Bright scene content that is not rain: drawn into the *clean* frame, so the model learns to keep it.

Why: the model removes what rain looks like, and bright thin lines and bright specks look like rain.
The shipped models erased a steep lane line on a winter frame and took the sun's glitter on water
for streaks. Adding such content to the clean image (and so to both the rainy input and the
target) makes it a hard negative: a pixel the loss punishes the model for touching.

Redesigned so that no negative is locally the same as a rain streak: real scene lines are opaque (the
texture beneath is gone, not brightened), few, anchored in the scene (paint converges in perspective,
a pole has a base) — a parallel family of thin semi-transparent bright lines is always rain.

Each structure is drawn at the scale of the source frame (``s`` = frame height / 720):

- lane markings: opaque paint on the road plane in perspective (converging to a vanishing point, thin only
  far away), solid or dashed, white or yellow;
- poles and wires: poles thick and opaque with a base and a shaded side; wires few, thin and dark;
- glitter: a cluster of tiny bright specks (sun on water, wet asphalt, ice);
- facades and railings: window frames and fence bars, thin bright lines in a regular grid, always joined by
  lines across them and seen in perspective (rain never closes a rectangle); the shipped drn_base took the white
  window frames of a street for streaks;
- glare and headlights: soft bright discs with a halo, sometimes in a dark scene;
- snow and frost: fine bright texture over part of the frame;
- the scene's own light: darker (dusk, night) or bright and flat (overcast) versions of the frame.
"""
from __future__ import annotations

import cv2
import numpy as np

from drn_edge.imageio import to_float01, to_uint8

__all__ = ["add_scene_negatives", "NEGATIVE_KINDS"]

NEGATIVE_KINDS = ("lane", "pole", "glitter", "glare", "snow", "light", "grid")
# Glitter (tiny bright specks) is locally the closest thing to drizzle: drawn rarely, so that examples teaching
# 'keep this small bright thing' stay far fewer than those teaching 'remove this streak'.
KIND_SHARE = (0.27, 0.17, 0.05, 0.13, 0.07, 0.16, 0.15)


def _lane(img: np.ndarray, rng: np.random.Generator, s: float) -> None:
    """Lane paint as a camera sees it: opaque, on the road plane, converging to a vanishing point, widening towards
    the bottom of the frame (thin only far away), solid or dashed with dashes that lengthen with nearness."""
    h, w = img.shape[:2]
    colour = np.array((1.0, 1.0, 1.0) if rng.random() < 0.7 else (1.0, 0.85, 0.25), np.float32) * rng.uniform(0.7, 1.0)
    vx, vy = rng.uniform(-0.5 * w, 1.5 * w), rng.uniform(-0.2 * h, 0.5 * h)  # the horizon, at or above the crop's middle
    bx = rng.uniform(-1.0 * w, 2.0 * w)  # where the line meets the bottom edge
    near_width = rng.uniform(8, 30) * s  # px at the bottom edge, 0 at the vanishing point
    dashed = rng.random() < 0.4
    n = 24
    for i in range(n // 6, n):  # the first sixth, thinner than paint ever looks, is left out
        a, b = i / n, (i + 1) / n  # 0 at the vanishing point, 1 at the bottom
        if dashed and (int(np.sqrt(b) * 10) % 2):  # dash pattern in perspective: sqrt spacing
            continue
        p = [(vx + (bx - vx) * t, vy + (h - vy) * t) for t in (a, b)]
        wa, wb = near_width * a / 2, near_width * b / 2
        poly = np.array([(p[0][0] - wa, p[0][1]), (p[1][0] - wb, p[1][1]), (p[1][0] + wb, p[1][1]),
                         (p[0][0] + wa, p[0][1])], np.float64)
        cv2.fillPoly(img, [np.round(poly * 16).astype(np.int32)], tuple(float(v) for v in colour),
                     lineType=cv2.LINE_AA, shift=4)


def _pole(img: np.ndarray, rng: np.random.Generator, s: float) -> None:
    """A pole (thick, opaque, with a base and shading across it) or a wire (thin, dark, across the sky)."""
    h, w = img.shape[:2]
    if rng.random() < 0.6:
        x, width = rng.uniform(0, w), rng.uniform(6, 28) * s
        base, top = rng.uniform(0.5 * h, 1.3 * h), rng.uniform(-0.5 * h, 0.4 * h)
        tilt = rng.uniform(-0.05, 0.05) * (base - top)
        shade = float(rng.uniform(0.05, 0.9))
        for k, frac in enumerate((0.0, 0.5)):  # two halves: lit side and shaded side
            x0 = x - width / 2 + frac * width
            poly = np.array([(x0, base), (x0 + width / 2, base), (x0 + width / 2 + tilt, top), (x0 + tilt, top)])
            value = shade * (1.0 if k == 0 else 0.7)
            cv2.fillPoly(img, [np.round(poly * 16).astype(np.int32)], (value, value, value),
                         lineType=cv2.LINE_AA, shift=4)
        return
    value = float(rng.uniform(0.0, 0.25))  # wires read dark against the sky
    y0, y1 = rng.uniform(-0.2 * h, 0.6 * h), rng.uniform(-0.2 * h, 0.6 * h)
    sag = rng.uniform(0, 0.08) * w
    xs = np.linspace(-0.1 * w, 1.1 * w, 32)
    ys = y0 + (y1 - y0) * (xs / w) + sag * (1 - ((xs / w - 0.5) * 2) ** 2)
    pts = np.round(np.stack([xs, ys], 1) * 16).astype(np.int32)
    cv2.polylines(img, [pts], False, (value, value, value), max(1, int(round(rng.uniform(1, 2.5) * s))),
                  lineType=cv2.LINE_AA, shift=4)


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


def _grid(img: np.ndarray, rng: np.random.Generator, s: float) -> None:
    """A facade (a wall with a grid of framed windows) or a railing (bars between two rails), opaque, in perspective."""
    h, w = img.shape[:2]
    layer, mask = np.zeros_like(img), np.zeros((h, w), np.float32)
    (_facade if rng.random() < 0.6 else _railing)(layer, mask, rng, s)
    # perspective: the grid recedes towards a vanishing point to one side
    squeeze = rng.uniform(0.0, 0.35) * h
    src = np.float32([[0, 0], [w, 0], [w, h], [0, h]])
    dst = np.float32([[0, 0], [w, squeeze], [w, h - squeeze], [0, h]]) if rng.random() < 0.5 else \
        np.float32([[0, squeeze], [w, 0], [w, h], [0, h - squeeze]])
    m = cv2.getPerspectiveTransform(src, dst)
    x0 = int(rng.uniform(-0.2, 0.6) * w)  # a building between others: part of the crop's width
    span = np.zeros((h, w), np.float32)
    span[:, max(0, x0):max(1, x0 + int(rng.uniform(0.4, 1.4) * w))] = 1
    layer = cv2.warpPerspective(layer, m, (w, h), flags=cv2.INTER_LINEAR)
    alpha = cv2.warpPerspective(mask, m, (w, h), flags=cv2.INTER_LINEAR) * span
    soft = rng.uniform(0, 2.5) * s  # as far or enlarged frames show them: soft window frames are still scene
    if soft > 0.3:
        layer, alpha = cv2.GaussianBlur(layer, (0, 0), soft), cv2.GaussianBlur(alpha, (0, 0), soft)
    alpha = alpha[..., None]
    img[:] = img * (1 - alpha) + layer * alpha


def _bright(rng: np.random.Generator) -> float:
    return float(rng.uniform(0.75, 1.0))  # white paint, lit metal


def _facade(layer: np.ndarray, mask: np.ndarray, rng: np.random.Generator, s: float) -> None:
    """A wall, windows (dark glass or the sky mirrored), bright frames and mullions: opaque over the whole layer."""
    h, w = layer.shape[:2]
    wall = rng.uniform(0.2, 0.8) * np.array([1.0, rng.uniform(0.8, 1.0), rng.uniform(0.6, 1.0)], np.float32)
    cv2.rectangle(layer, (0, 0), (w, h), tuple(float(v) for v in wall), -1)
    mask[:] = 1
    win_w, win_h = rng.uniform(12, 60) * s, rng.uniform(20, 90) * s
    gap_x, gap_y = win_w * rng.uniform(0.3, 1.2), win_h * rng.uniform(0.3, 0.9)
    frame = max(1.0, rng.uniform(1, 4) * s)
    for y in np.arange(rng.uniform(-win_h, 0), h, win_h + gap_y):
        for x in np.arange(rng.uniform(-win_w, 0), w, win_w + gap_x):
            glass = float(rng.uniform(0.05, 0.4) if rng.random() < 0.6 else rng.uniform(0.6, 0.95))
            c = _bright(rng)
            _box(layer, x, y, x + win_w, y + win_h, (c, c, c))
            _box(layer, x + frame, y + frame, x + win_w - frame, y + win_h - frame, (glass, glass, glass))
            if rng.random() < 0.6:  # a mullion down the middle
                _box(layer, x + win_w / 2 - frame / 2, y, x + win_w / 2 + frame / 2, y + win_h, (c, c, c))


def _railing(layer: np.ndarray, mask: np.ndarray, rng: np.random.Generator, s: float) -> None:
    """Two rails and bars between them, bright or dark; the scene shows through."""
    h, w = layer.shape[:2]
    top, bottom = rng.uniform(0, 0.6 * h), rng.uniform(0.5 * h, 1.2 * h)
    bar, rail, step = max(1.0, rng.uniform(1, 4) * s), rng.uniform(2, 8) * s, rng.uniform(6, 30) * s
    c = _bright(rng) if rng.random() < 0.6 else float(rng.uniform(0.0, 0.3))
    for y in (top, bottom):
        _box(layer, 0, y - rail / 2, w, y + rail / 2, (c, c, c), mask)
    for x in np.arange(rng.uniform(0, step), w, step):
        _box(layer, x - bar / 2, top, x + bar / 2, bottom, (c, c, c), mask)


def _box(img, x0, y0, x1, y1, colour, mask=None) -> None:
    """An anti-aliased filled rectangle at sub-pixel corners (into mask too, as 1, when given)."""
    poly = np.round(np.array([(x0, y0), (x1, y0), (x1, y1), (x0, y1)]) * 16).astype(np.int32)
    cv2.fillPoly(img, [poly], colour, lineType=cv2.LINE_AA, shift=4)
    if mask is not None:
        cv2.fillPoly(mask, [poly], 1.0, lineType=cv2.LINE_AA, shift=4)


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


_DRAW = {"lane": _lane, "pole": _pole, "glitter": _glitter, "glare": _glare, "snow": _snow, "light": _light,
         "grid": _grid}
assert set(_DRAW) == set(NEGATIVE_KINDS)


def add_scene_negatives(clean_uint8: np.ndarray, rng: np.random.Generator, frame_height: float,
                        count: int | None = None) -> np.ndarray:
    """The clean HxWx3 uint8 crop with 1-3 random bright structures (or a change of light) drawn in."""
    img = to_float01(clean_uint8)
    s = frame_height / 720.0
    n = int(rng.integers(1, 4)) if count is None else count
    for kind in rng.choice(NEGATIVE_KINDS, size=n, p=KIND_SHARE):
        _DRAW[str(kind)](img, rng, s)
    return to_uint8(img)
