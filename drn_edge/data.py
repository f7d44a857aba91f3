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


def make_calibration_set(out_dir, sources: list[tuple[str, np.ndarray]] | None = None, count: int = 24,
                         height: int = 240, width: int = 320, seed: int = 77) -> list[dict]:
    """Write rainy calibration frames (JPEG) plus manifest.json into `out_dir`, for ``drn-export --calib``.

    `sources`: (name, clean RGB) frames, e.g. your camera's; default: the held-out-free training
    photos of scikit-image. Rain is drawn from the whole family, a third each at low, medium and
    high intensity (drn_edge.calibration_ranges.calibration_frames).
    """
    import cv2

    from ._atomic import write_json
    from .calibration_ranges import calibration_frames
    from .imageio import write_image

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if sources is None:
        sources = [(n, load_photo(n)) for n in TRAIN_PHOTOS]
    entries = []
    for i, (name, level, rainy) in enumerate(calibration_frames(sources, count, height, width, seed)):
        fname = f"calib_{i:02d}_{name.replace('/', '_')}_{level}.jpg"  # JPEG q95, as camera frames arrive
        write_image(out / fname, cv2.cvtColor(rainy, cv2.COLOR_RGB2BGR))
        entries.append({"file": fname, "source": name, "rain_level": level})
    write_json(out / "manifest.json", {"frames": entries, "size": [height, width],
                                       "made_by": f"drn_edge.data.make_calibration_set(count={count}, height={height}, "
                                                  f"width={width}, seed={seed})"})
    return entries
