"""The one builder of evaluation frames: export, bench, drn-eval and training validation all use it.

Every fidelity figure drn-edge prints comes from frames made here, with one seed scheme, so the
same model gives the same number wherever it is measured. Torch-free (the bench runs without torch).

Held-out sources (never trained on, never used for calibration): scikit-image's held-out photos
(installed with the package, so every default works from a wheel with no data), plus any folder of
clean frames the caller adds (road frames read from ../shared with --road / --clean).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drn_edge.imageio import list_images, read_pairs, read_rgb
from drn_edge.photos import HELDOUT_PHOTOS, crop_to_multiple, load_photo
from drn_edge.rain import LEVEL_NAMES

__all__ = ["EvalFrame", "EVAL_SEED", "LEVEL_NAMES", "frame_seed", "fit_to_size", "heldout_sources", "clean_dir_sources",
           "rain_frames", "pair_frames"]

EVAL_SEED = 1234


@dataclass(frozen=True)
class EvalFrame:
    """One rainy/clean pair (HxWx3 uint8 RGB) and the set it reports under (e.g. 'medium', 'particles', 'rain200h')."""

    name: str
    group: str
    rainy: np.ndarray
    clean: np.ndarray


def frame_seed(source_index: int, level: str, generator: str = "preset") -> int:
    """The seed scheme, written once: source, level and generator each move the seed."""
    # lazy: pulls in OpenCV, which importing this module does not
    from drn_edge.rain.family import GENERATORS

    g = 0 if generator == "preset" else 1 + GENERATORS.index(generator)
    return EVAL_SEED + 101 * source_index + 10 * LEVEL_NAMES.index(level) + 1000 * g


def fit_to_size(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """Centre-crop to the target aspect ratio, then resize: a 1280x1024 frame becomes a 1280x720 one, undistorted."""
    import cv2

    h, w = rgb.shape[:2]
    target = width / height
    if w / h > target:
        cw = int(round(h * target))
        rgb = rgb[:, (w - cw) // 2: (w - cw) // 2 + cw]
    elif w / h < target:
        ch = int(round(w / target))
        rgb = rgb[(h - ch) // 2: (h - ch) // 2 + ch]
    interp = cv2.INTER_AREA if rgb.shape[0] >= height else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(rgb, (width, height), interpolation=interp))


def heldout_sources(max_side: int | None = None) -> list[tuple[str, np.ndarray]]:
    """(name, clean RGB) of the held-out photos; optionally shrunk."""
    out = [(n, load_photo(n)) for n in HELDOUT_PHOTOS]
    return shrink_sources(out, max_side) if max_side else out


def shrink_sources(sources: Sequence[tuple[str, np.ndarray]], max_side: int) -> list[tuple[str, np.ndarray]]:
    """Each source shrunk to at most `max_side` px and cropped to a multiple of 8 (fast validation)."""
    import cv2

    shrunk = []
    for name, img in sources:
        f = max_side / max(img.shape[:2])
        if f < 1:
            img = cv2.resize(img, (int(img.shape[1] * f), int(img.shape[0] * f)), interpolation=cv2.INTER_AREA)
        shrunk.append((name, np.ascontiguousarray(crop_to_multiple(img))))
    return shrunk


def evenly_spaced(items: Sequence, n: int) -> list:
    """At most n of `items`, evenly spaced over the whole list (frames of a drive, not its first seconds)."""
    if len(items) <= n:
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def clean_dir_sources(folder: str | os.PathLike, max_frames: int | None = None) -> list[tuple[str, np.ndarray]]:
    """(name, clean RGB) for every image in a folder (a user's own clean frames, or research-only ones); with
    `max_frames`, only that many evenly spaced files are decoded (keeping 2 frames of 300 decoded all 300)."""
    files = list_images(folder)
    if max_frames:
        files = evenly_spaced(files, max_frames)
    return [(p.stem, read_rgb(p)) for p in files]


def rain_frames(sources: Sequence[tuple[str, np.ndarray]], levels: Sequence[str] = LEVEL_NAMES,
                size: tuple[int, int] | None = None, generator: str = "preset") -> list[EvalFrame]:
    """Each source (fitted to `size` when given) under each rain level; group = level (or generator/level)."""
    # lazy: pulls in OpenCV, which importing this module does not
    from drn_edge.rain.preset import synthesize

    out = []
    for i, (name, rgb) in enumerate(sources):
        clean = fit_to_size(rgb, *size) if size else np.ascontiguousarray(rgb)
        for level in levels:
            rainy = synthesize(clean, level, seed=frame_seed(i, level, generator), generator=generator)
            group = level if generator == "preset" else f"{generator}/{level}"
            out.append(EvalFrame(name, group, rainy, clean))
    return out


def pair_frames(folder: str | os.PathLike, size: tuple[int, int] | None = None, group: str | None = None) -> list[EvalFrame]:
    """A paired rain set (any layout imageio.find_pairs knows), at native size or fitted to `size`."""
    label = group or Path(folder).name
    out = []
    for name, rainy, clean in read_pairs(folder):
        if size:
            rainy, clean = fit_to_size(rainy, *size), fit_to_size(clean, *size)
        out.append(EvalFrame(name, label, rainy, clean))
    return out
