"""Clean photos bundled with scikit-image (offline), random crops with on-the-fly synthetic rain, held-out split.

scikit-image's sample photos ship inside its wheel, so training needs no download. The held-out
photos are never seen in training; evaluation and the calibration set use them.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .rain import LEVELS, REFERENCE_SIZE, synthesize

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


@dataclass
class RainCropSampler:
    """Random (rainy, clean) crops from the training photos: random photo, scale, flip, rain level and seed."""

    crop: int = 96
    photos: tuple[str, ...] = TRAIN_PHOTOS
    seed: int = 0

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self.images = [load_photo(p) for p in self.photos]

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        rng = self.rng
        img = self.images[rng.integers(len(self.images))]
        scale = rng.uniform(0.5, 1.0)
        h, w = img.shape[:2]
        nh, nw = max(self.crop, int(h * scale)), max(self.crop, int(w * scale))
        if (nh, nw) != (h, w):
            img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_AREA)
        y, x = rng.integers(nh - self.crop + 1), rng.integers(nw - self.crop + 1)
        clean = img[y : y + self.crop, x : x + self.crop]
        if rng.random() < 0.5:
            clean = clean[:, ::-1]
        clean = np.ascontiguousarray(clean)
        level = list(LEVELS)[rng.integers(len(LEVELS))]
        # Rain scaled to the whole (resized) photo, not to the crop, so streaks look the same as at test time.
        rainy = synthesize(clean, level, seed=int(rng.integers(2**31)), scale=max(nh, nw) / REFERENCE_SIZE)
        return rainy, clean

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Two float32 NCHW arrays in [0, 1]: rainy and clean."""
        pairs = [self.sample() for _ in range(n)]
        rainy = np.stack([p[0] for p in pairs]).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        clean = np.stack([p[1] for p in pairs]).transpose(0, 3, 1, 2).astype(np.float32) / 255.0
        return rainy, clean


def heldout_pairs(level: str = "medium", seed: int = 1234, photos: tuple[str, ...] = HELDOUT_PHOTOS,
                  max_side: int | None = None) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, rainy, clean) for each held-out photo, cropped to a multiple of 8; same rain every call."""
    import cv2

    out = []
    for i, name in enumerate(photos):
        clean = load_photo(name)
        if max_side and max(clean.shape[:2]) > max_side:
            f = max_side / max(clean.shape[:2])
            clean = cv2.resize(clean, (int(clean.shape[1] * f), int(clean.shape[0] * f)), interpolation=cv2.INTER_AREA)
        clean = np.ascontiguousarray(crop_to_multiple(clean))
        out.append((name, synthesize(clean, level, seed=seed + i), clean))
    return out


def make_calibration_set(out_dir, count: int = 16, height: int = 240, width: int = 320, seed: int = 77) -> list[dict]:
    """Write rainy calibration frames (PNG) of held-out photos at mixed rain levels plus manifest.json.

    Crops and scales differ from the evaluation frames (full photos, seed 1234), so INT8 is
    calibrated and judged on different frames of the same unseen photos.
    """
    from pathlib import Path

    import cv2

    from ._atomic import write_bytes, write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    levels = list(LEVELS)
    entries = []
    for i in range(count):
        name = HELDOUT_PHOTOS[i % len(HELDOUT_PHOTOS)]
        img = load_photo(name)
        h, w = img.shape[:2]
        f = rng.uniform(max(height / h, width / w), 1.0)
        img = cv2.resize(img, (max(width, int(w * f)), max(height, int(h * f))), interpolation=cv2.INTER_AREA)
        y, x = rng.integers(img.shape[0] - height + 1), rng.integers(img.shape[1] - width + 1)
        crop = np.ascontiguousarray(img[y : y + height, x : x + width])
        level = levels[i % len(levels)]
        rainy = synthesize(crop, level, seed=int(rng.integers(2**31)), scale=max(img.shape[:2]) / REFERENCE_SIZE)
        fname = f"calib_{i:02d}_{name}_{level}.png"
        ok, png = cv2.imencode(".png", cv2.cvtColor(rainy, cv2.COLOR_RGB2BGR))
        write_bytes(out / fname, png.tobytes())
        entries.append({"file": fname, "source": f"skimage.data.{name}", "licence": PHOTO_LICENCE, "rain_level": level,
                        "split": "held-out (never used in training)"})
    write_json(out / "manifest.json", {"frames": entries, "size": [height, width],
                                       "made_by": f"drn_edge.data.make_calibration_set(count={count}, height={height}, width={width}, seed={seed})"})
    return entries
