"""Clean frames found offline: scikit-image's sample photos, with a fixed train / evaluation split.

They ship inside scikit-image's wheel (no download), so every default of drn-edge works with no
data folder: TRAIN_PHOTOS for training, HELDOUT_PHOTOS never seen in training, used for
evaluation only. The project ships no third-party frames; road frames are read from a folder the
user names (``--clean``, ``--road``, ``--calib``), e.g. ``../shared/data/road/permissive``.
"""
from __future__ import annotations

import functools
import importlib.util

import numpy as np

from drn_edge.errors import MissingDependencyError
from drn_edge.imageio import to_uint8

TRAIN_PHOTOS = (
    "astronaut", "chelsea", "hubble_deep_field", "immunohistochemistry", "retina", "colorwheel",
    "camera", "brick", "grass", "clock", "coins", "moon", "text", "page", "cell",
)
HELDOUT_PHOTOS = ("rocket", "coffee", "gravel")
PHOTO_LICENCE = "scikit-image sample data (public domain / CC0 or permissive; see skimage/data/README.txt)"


def photos_available() -> bool:
    """Whether scikit-image (and so the bundled photos) is installed: not in the torch-free Jetson/x86 images."""
    try:
        return importlib.util.find_spec("skimage") is not None
    except (ImportError, ValueError):
        return False


@functools.cache
def load_photo(name: str) -> np.ndarray:
    """A bundled photo as HxWx3 uint8 RGB (greyscale ones are stacked to three channels)."""
    try:
        import skimage.data
    except ImportError:
        raise MissingDependencyError(
            "scikit-image", "train", "the default frames (scikit-image's bundled photos; a torch-free install such "
            "as the Jetson image has none: name your own frames instead, drn-bench --eval DIR, drn-eval --road "
            "DIR)") from None

    if name not in TRAIN_PHOTOS + HELDOUT_PHOTOS:
        raise ValueError(f"unknown photo {name!r}; choose from {TRAIN_PHOTOS + HELDOUT_PHOTOS}")
    img = np.asarray(getattr(skimage.data, name)())
    if img.ndim == 2:
        img = np.dstack([img] * 3)
    img = img[..., :3]
    if img.dtype != np.uint8:
        img = to_uint8(img)
    img = np.ascontiguousarray(img)
    img.setflags(write=False)
    return img


def crop_to_multiple(img: np.ndarray, multiple: int = 8) -> np.ndarray:
    h, w = img.shape[:2]
    return img[: h - h % multiple, : w - w % multiple]
