"""Clean frames found offline: scikit-image's sample photos, with a fixed train / evaluation split.

They ship inside scikit-image's wheel (no download), so every default of drn-edge works with no
data folder: TRAIN_PHOTOS for training, HELDOUT_PHOTOS never seen in training, used for
evaluation only. The project ships no third-party frames; road frames are read from a folder the
user names (``--clean``, ``--road``, ``--calib``), e.g. ``../shared/data/road/permissive``.
"""
from __future__ import annotations

import functools
from pathlib import Path

import numpy as np


TRAIN_PHOTOS = (
    "astronaut", "chelsea", "hubble_deep_field", "immunohistochemistry", "retina", "colorwheel",
    "camera", "brick", "grass", "clock", "coins", "moon", "text", "page", "cell",
)
HELDOUT_PHOTOS = ("rocket", "coffee", "gravel")
PHOTO_LICENCE = "scikit-image sample data (public domain / CC0 or permissive; see skimage/data/README.txt)"


@functools.lru_cache(maxsize=None)
def load_photo(name: str) -> np.ndarray:
    """A bundled photo as HxWx3 uint8 RGB (greyscale ones are stacked to three channels)."""
    import skimage.data

    if name not in TRAIN_PHOTOS + HELDOUT_PHOTOS:
        raise ValueError(f"unknown photo {name!r}; choose from {TRAIN_PHOTOS + HELDOUT_PHOTOS}")
    img = np.asarray(getattr(skimage.data, name)())
    if img.ndim == 2:
        img = np.dstack([img] * 3)
    img = img[..., :3]
    if img.dtype != np.uint8:
        img = (np.clip(img, 0, 1) * 255).round().astype(np.uint8)
    img = np.ascontiguousarray(img)
    img.setflags(write=False)
    return img


def crop_to_multiple(img: np.ndarray, multiple: int = 8) -> np.ndarray:
    h, w = img.shape[:2]
    return img[: h - h % multiple, : w - w % multiple]


def make_calibration_set(out_dir, count: int = 24, height: int = 240, width: int = 320, seed: int = 77) -> list[dict]:
    """Write rainy calibration frames (PNG) plus manifest.json, from the road calibration split only.

    Random scales, crops and flips of the calibration frames under rain drawn from the whole
    training family at every intensity (a third each low, medium, high), so the INT8 ranges
    cover heavy rain too. Disjoint from every evaluation frame by source.
    """
    import cv2

    from ._atomic import write_json
    from .imageio import write_image
    from .rain_family import LEVEL_INTENSITY, render, sample_spec

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    sources = road_frames("calibration")
    bands = {"low": (0.0, 0.33), "medium": (0.33, 0.67), "high": (0.67, 1.0)}
    assert set(bands) == set(LEVEL_INTENSITY)
    entries = []
    for i in range(count):
        name, img = sources[i % len(sources)]
        h, w = img.shape[:2]
        f = rng.uniform(max(height / h, width / w), 1.0)
        img = cv2.resize(img, (max(width, round(w * f)), max(height, round(h * f))), interpolation=cv2.INTER_AREA)
        y, x = rng.integers(img.shape[0] - height + 1), rng.integers(img.shape[1] - width + 1)
        crop = np.ascontiguousarray(img[y: y + height, x: x + width])
        if rng.random() < 0.5:
            crop = np.ascontiguousarray(crop[:, ::-1])
        level = list(bands)[i % 3]
        spec = sample_spec(rng, intensity=float(rng.uniform(*bands[level])))
        rainy = render(crop.astype(np.float32) / 255.0, spec, rng, frame_height=float(img.shape[0]))
        rainy = (rainy * 255.0 + 0.5).astype(np.uint8)
        fname = f"calib_{i:02d}_{name}_{level}.jpg"  # JPEG q95, as camera frames arrive
        write_image(out / fname, cv2.cvtColor(rainy, cv2.COLOR_RGB2BGR))
        entries.append({"file": fname, "source": f"drn_edge/road_frames/calibration/{name}.jpg",
                        "licence": "MIT, Copyright (c) 2018 comma.ai (see drn_edge/road_frames/ATTRIBUTION.md)",
                        "rain_level": level, "rain_generator": spec.extra["generator"],
                        "split": "calibration (disjoint from training and evaluation frames by source)"})
    write_json(out / "manifest.json", {"frames": entries, "size": [height, width],
                                       "made_by": f"drn_edge.data.make_calibration_set(count={count}, height={height}, "
                                                  f"width={width}, seed={seed})"})
    return entries
