"""Real rainy frames have no ground truth: what can be said is how much a model changes them, and in which direction.

Rain adds light (a streak or drizzle is brighter than what it covers), so a model that removes rain makes the
frame darker where it acts. ``real_rain_change`` reports, per frame folder, the mean absolute change (0-255 grey
levels, all channels) and the share of it that is removal (output darker than input). It is a diagnostic of
whether and how a model acts on real rain, not a quality score: a model that darkens everything would score
100 % removal, so it is read beside the clean-frame table (clean frames must come back unchanged) and beside
``streak_selectivity``: how much more the model takes from streak-like pixels (a thin bright line or speck: the white
top-hat of the frame's luma at least STREAK_CONTRAST above its 9x9 surroundings) than from the rest, per pixel. A
uniform darkening scores 1; a model that removes streaks and keeps the scene scores well above 1. ``uniform_shift``
is the part of the change that is one offset over the whole frame (each frame's median signed change): a model trained
with a squared-error loss darkened real and clean frames alike by about 1 grey level (docs/levers.md), which the
mean change alone would count as acting on rain.
"""
from __future__ import annotations

import os

import cv2
import numpy as np

from drn_edge.evaluation.eval_frames import evenly_spaced
from drn_edge.evaluation.fidelity import DeRain
from drn_edge.imageio import labelled_grid, list_images, read_rgb, write_image

__all__ = ["real_rain_change", "real_rain_grid", "format_real_rain", "streak_like", "whole_frame_shift"]

STREAK_CONTRAST = 8.0  # grey levels above the 9x9 surroundings (real streaks: about 10-30)


def streak_like(rgb: np.ndarray) -> np.ndarray:
    """HxW bool: thin bright structure (streaks, drizzle, but also thin bright scene detail) in an RGB frame."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    tophat = cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9)))
    return tophat >= STREAK_CONTRAST


def whole_frame_shift(diff: np.ndarray) -> float:
    """The part of a change (HxWx3, input - output) that is one offset over the whole frame: its median (> 0 darker)."""
    return float(np.median(diff.mean(axis=2)))


def real_rain_change(derain: DeRain, folder: str | os.PathLike, max_frames: int | None = None) -> dict:
    """{'n', 'mean_change', 'removal_share', 'most_changed_frame', 'streak_selectivity', 'uniform_shift'} over the
    rainy frames of `folder` (selectivity: removal per streak-like pixel / removal per other pixel; nan when nothing
    is removed; uniform shift: the mean over frames of the median signed change, > 0 darker)."""
    files = list_images(folder)
    if max_frames:
        files = evenly_spaced(files, max_frames)
    changes, shifts, removed, total = [], [], 0.0, 0.0
    on_streaks = np.zeros(2)  # removal summed, pixels: streak-like
    elsewhere = np.zeros(2)
    for f in files:
        rainy = read_rgb(f)
        diff = rainy.astype(np.float32) - derain(rainy).astype(np.float32)  # > 0: the model took light away
        changes.append(float(np.abs(diff).mean()))
        shifts.append(whole_frame_shift(diff))
        taken = np.clip(diff, 0, None)
        removed += float(taken.sum())
        removal = taken.mean(axis=2)  # per pixel, for the streak-like / other split
        total += float(np.abs(diff).sum())
        mask = streak_like(rainy)
        on_streaks += (removal[mask].sum(), mask.sum())
        elsewhere += (removal[~mask].sum(), (~mask).sum())
    per_streak = on_streaks[0] / max(on_streaks[1], 1)
    per_other = elsewhere[0] / max(elsewhere[1], 1)
    selectivity = per_streak / per_other if per_other > 0 else (float("inf") if per_streak > 0 else float("nan"))
    return {"n": len(files), "mean_change": float(np.mean(changes)),
            "removal_share": removed / total if total > 0 else 0.0, "most_changed_frame": float(max(changes)),
            "streak_selectivity": float(selectivity), "uniform_shift": float(np.mean(shifts))}


def format_real_rain(folder: str, row: dict) -> str:
    return (f"real rain {folder}: {row['n']} frames, mean change {row['mean_change']:.2f} grey levels (0-255), "
            f"{100 * row['removal_share']:.0f} % of it removal (output darker than input); most changed frame "
            f"{row['most_changed_frame']:.2f}; streak-like pixels lose {row['streak_selectivity']:.1f}x as much light as "
            f"the rest (1: a uniform darkening); {row['uniform_shift']:+.2f} grey levels of it is one shift of the whole frame "
            "(> 0 darker: not rain removal) (no ground truth: a diagnostic of whether the model acts, not a score)")


def real_rain_grid(derain: DeRain, folder: str | os.PathLike, path: str | os.PathLike, max_frames: int = 6,
                   tile_height: int = 240) -> int:
    """Rainy | derained for real rainy frames without ground truth: numbers would mean nothing, so look at them."""
    files = list_images(folder)
    step = max(1, len(files) // max_frames)
    rows = []
    for f in files[::step][:max_frames]:
        rainy = read_rgb(f)
        rows.append([(rainy, f"rainy {f.name}"), (derain(rainy), "derained")])
    write_image(path, labelled_grid(rows, tile_height), jpeg_quality=85)
    return len(rows)
