"""Training examples: clean frames under randomized synthetic rain, and users' paired rain datasets, mixed by weight.

A source is a tiny duck-typed object with ``sample(rng, crop) -> (rainy, clean)`` (two HxWx3 uint8
RGB crops), so user code can add its own. ``MixedSampler`` draws each example from one source with
the given weights and stacks float NCHW batches.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from drn_edge import imageio
from drn_edge.errors import DataError
from drn_edge.photos import TRAIN_PHOTOS, load_photo
from drn_edge.rain import LEVEL_NAMES
from drn_edge.rain.family import parse_rain_mix, render, sample_spec
from drn_edge.rain.preset import REFERENCE_SIZE, synthesize
from drn_edge.rain.scene_negatives import add_scene_negatives
from drn_edge.runtime.frames import hwc_to_nchw_float
from drn_edge.train.scenes import dead_leaves

__all__ = ["TrainSource", "SyntheticRainSource", "PairedSource", "MixedSampler", "read_clean_dir",
           "default_sources"]

VIDEO_FRAME_STEP = 15       # one frame in 15 from a training video: consecutive frames add little
LEGACY_PRESET_SHARE = 0.08  # the low/medium/high evaluation preset is one family member among others
NO_RAIN_SHARE = 0.15        # some frames without rain: the network must leave clean content alone
# Examples whose clean frame gets scene structures that are not rain (scene_negatives). Kept well below the
# share that teaches 'remove this streak' (1 - NO_RAIN_SHARE): the earlier 40 % of thin bright lines and
# specks taught the model to keep exactly what light real rain looks like.
NEGATIVE_SHARE = 0.2
# Real camera frames are compressed, and so is the rain in them: in this share of examples the rainy input and the
# clean target are JPEG-compressed at one random quality (the model learns compressed streaks, never deblocking).
JPEG_SHARE, JPEG_QUALITY = 0.3, (50, 95)
# Rain comes with a veil: real rainy frames are bright and low in contrast. A model that only ever saw rain over crisp
# scenes removes less rain behind a haze (run 7's drn_base: 59 % of medium rain over a road frame, 41 % behind a 40 %
# haze; benchmarks/candidate_check.py) and nothing on the real frames. In this share of examples the clean scene itself
# is hazy (input and target alike: the haze is scene, kept; only the rain drawn over it is removed).
HAZY_SCENE_SHARE, HAZE_OPACITY = 0.3, (0.15, 0.6)
# The look of a cheap or streamed video camera (--video-look): real rainy frames are upscaled, sharpened and
# block-coded, their streaks with them; over that fine detail the shipped models hold back (benchmarks/context_check.py).
VIDEO_SHRINK, VIDEO_SHARPEN, VIDEO_SHARPEN_SIGMA, VIDEO_QUALITY = (1.3, 2.5), (0.5, 1.5), (0.8, 2.0), (15, 50)


class TrainSource(Protocol):
    def sample(self, rng: np.random.Generator, crop: int) -> tuple[np.ndarray, np.ndarray]: ...


def _random_crop(rng: np.random.Generator, crop: int, *images: np.ndarray) -> list[np.ndarray]:
    h, w = images[0].shape[:2]
    y, x = int(rng.integers(h - crop + 1)), int(rng.integers(w - crop + 1))
    flip = rng.random() < 0.5
    out = []
    for img in images:
        c = img[y: y + crop, x: x + crop]
        out.append(np.ascontiguousarray(c[:, ::-1] if flip else c))
    return out


@dataclass
class SyntheticRainSource:
    """Clean frames; each example: random shrink, crop, flip, and one random draw of the rain family.

    The rain is sized for a frame of random height between 240 and 1080 px (log-uniform), not for
    the crop, so one model learns the streaks of 360p to 1080p cameras. In NEGATIVE_SHARE of the
    examples the clean crop first gets bright structures that are scene, not rain (lane markings,
    glitter, glare, snow, a change of light: drn_edge.rain.scene_negatives). `haze` adds the atmospheric
    veil to some rain draws (off by default: see drn_edge.rain.family). In a `video_look` share of the examples the
    rainy frame and its clean target go through one video camera together (video_camera), instead of the JPEG step;
    in a `dead_leaves` share the clean frame is a generated dead-leaves scene (drn_edge.train.scenes; its leaves'
    textures: `leaf_textures`), not an image. `rain_mix` ("NAME=W,...", rain.family.parse_rain_mix) sets how often each
    generator is drawn.
    """

    images: Sequence[np.ndarray]
    name: str = "clean"
    haze: bool = False
    video_look: float = 0.0
    dead_leaves: float = 0.0
    leaf_textures: str = "plain"
    rain_mix: str = ""

    def __post_init__(self) -> None:
        if not self.images:
            raise DataError(f"training source '{self.name}' has no images")
        self._mix = parse_rain_mix(self.rain_mix)

    def sample(self, rng: np.random.Generator, crop: int) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        if self.dead_leaves and rng.random() < self.dead_leaves:  # no draw at 0: old runs' random streams stay
            img = dead_leaves(rng, crop, self.leaf_textures)
        else:
            img = self.images[int(rng.integers(len(self.images)))]
        h, w = img.shape[:2]
        least = crop / min(h, w)
        f = rng.uniform(max(0.25, least), max(1.0, least))
        if abs(f - 1.0) > 1e-3:
            img = cv2.resize(img, (max(crop, round(w * f)), max(crop, round(h * f))), interpolation=cv2.INTER_AREA)
        (clean,) = _random_crop(rng, crop, img)
        frame_h = float(np.exp(rng.uniform(np.log(240), np.log(1080))))
        if rng.random() < NEGATIVE_SHARE:
            clean = add_scene_negatives(clean, rng, frame_h)
        if rng.random() < HAZY_SCENE_SHARE:
            clean = hazy_scene(clean, rng)
        draw = rng.random()
        if draw < NO_RAIN_SHARE:
            rainy = clean.copy()
        elif draw < NO_RAIN_SHARE + LEGACY_PRESET_SHARE:
            level = LEVEL_NAMES[int(rng.integers(len(LEVEL_NAMES)))]
            rainy = synthesize(clean, level, seed=int(rng.integers(2**31)), scale=frame_h * 16 / 9 / REFERENCE_SIZE)
        else:
            spec = sample_spec(rng, haze=self.haze, mix=self._mix)
            rainy = imageio.to_uint8(render(imageio.to_float01(clean), spec, rng, frame_height=frame_h))
        if rng.random() < self.video_look:
            camera = video_camera(rng)
            rainy, clean = camera(rainy), camera(clean)
        elif rng.random() < JPEG_SHARE:
            quality = int(rng.integers(JPEG_QUALITY[0], JPEG_QUALITY[1] + 1))
            rainy, clean = _jpeg(rainy, quality), _jpeg(clean, quality)
        return rainy, clean


def video_camera(rng: np.random.Generator):
    """One random low-bitrate video camera, as a uint8 RGB -> uint8 RGB function (the same for the rainy frame and
    its target): shrunk and upscaled (soft, thick edges), sharpened (halos around every edge), JPEG-coded (blocks)."""
    import cv2

    shrink, amount = rng.uniform(*VIDEO_SHRINK), rng.uniform(*VIDEO_SHARPEN)
    sigma, quality = rng.uniform(*VIDEO_SHARPEN_SIGMA), int(rng.integers(VIDEO_QUALITY[0], VIDEO_QUALITY[1] + 1))

    def camera(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        small = cv2.resize(rgb, (max(8, round(w / shrink)), max(8, round(h / shrink))), interpolation=cv2.INTER_AREA)
        x = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC).astype(np.float32)
        x = np.clip(x + amount * (x - cv2.GaussianBlur(x, (0, 0), sigma)) + 0.5, 0, 255).astype(np.uint8)
        return _jpeg(x, quality)

    return camera


def hazy_scene(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The scene seen through rain's veil: blended towards a bright grey airlight, more towards the top of the crop
    (farther away on a road camera). Part of the clean target, so the model learns to keep it."""
    h = rgb.shape[0]
    opacity = rng.uniform(*HAZE_OPACITY)
    towards_top = rng.uniform(0.0, 0.6)
    a = opacity * (1.0 - towards_top * np.linspace(0.0, 1.0, h, dtype=np.float32))[:, None, None]
    airlight = rng.uniform(150, 235) + rng.uniform(-8, 8, 3)
    return np.clip(rgb.astype(np.float32) * (1 - a) + a * airlight, 0, 255).round().astype(np.uint8)


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """The image as a camera's encoder leaves it: JPEG-compressed at `quality` and decoded."""
    import cv2

    ok, buf = cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, quality])
    return cv2.imdecode(buf, cv2.IMREAD_UNCHANGED) if ok else rgb


@dataclass
class PairedSource:
    """Aligned (rainy, clean) image pairs; each example is the same random crop of both."""

    pairs: Sequence[tuple[np.ndarray, np.ndarray]]
    name: str = "pairs"

    def __post_init__(self) -> None:
        if not self.pairs:
            raise DataError(f"paired source '{self.name}' has no pairs")

    def sample(self, rng: np.random.Generator, crop: int) -> tuple[np.ndarray, np.ndarray]:
        import cv2

        rainy, clean = self.pairs[int(rng.integers(len(self.pairs)))]
        h, w = rainy.shape[:2]
        if min(h, w) < crop:  # small pairs are enlarged rather than refused
            f = crop / min(h, w)
            size = (max(crop, round(w * f)), max(crop, round(h * f)))
            rainy = cv2.resize(rainy, size, interpolation=cv2.INTER_CUBIC)
            clean = cv2.resize(clean, size, interpolation=cv2.INTER_CUBIC)
        r, c = _random_crop(rng, crop, rainy, clean)
        return r, c


class MixedSampler:
    """Draws each example from one source (probability proportional to its weight); float NCHW batches."""

    def __init__(self, sources: Sequence[TrainSource], weights: Sequence[float] | None = None, crop: int = 128,
                 seed: int = 0):
        if not sources:
            raise DataError("no training sources")
        w = np.asarray(weights if weights is not None else [1.0] * len(sources), np.float64)
        if len(w) != len(sources) or not np.all(np.isfinite(w)) or (w < 0).any() or w.sum() <= 0:
            raise DataError(f"source weights must be one non-negative number per source, got {list(w)}")
        self.sources, self.p, self.crop = list(sources), w / w.sum(), crop
        self.rng = np.random.default_rng(seed)

    def sample(self) -> tuple[np.ndarray, np.ndarray]:
        src = self.sources[int(self.rng.choice(len(self.sources), p=self.p))]
        return src.sample(self.rng, self.crop)

    def batch(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Two float32 NCHW arrays in [0, 1]: rainy and clean."""
        pairs = [self.sample() for _ in range(n)]

        return hwc_to_nchw_float(np.stack([p[0] for p in pairs])), hwc_to_nchw_float(np.stack([p[1] for p in pairs]))


# --------------------------------------------------------------------------- folders
def _video_frames(path: Path, step: int = VIDEO_FRAME_STEP) -> list[np.ndarray]:
    import cv2

    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise DataError(f"cannot open video '{path}': not a video OpenCV can decode")
    frames, i = [], 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok:
                break
            if i % step == 0:
                frames.append(cv2.cvtColor(frame, cv2.COLOR_BGR2RGB))
            i += 1
    finally:
        cap.release()
    if not frames:
        raise DataError(f"video '{path}' has no decodable frames")
    return frames


DECODED_CACHE_BYTES = 1 << 30  # decoded training images kept in memory, at most (LazyImages)


class LazyImages(Sequence):
    """Image files decoded when drawn, with an LRU cache of at most `cache_bytes` of decoded pixels.

    A 5,000-frame 1080p folder is ~30 GB decoded; kept whole it would not fit a 24 GB machine. Each
    file is decoded once at start-up to check it (then dropped), and again whenever it is drawn and
    no longer cached: memory stays under the cache bound plus the video frames (every 15th, kept).
    """

    def __init__(self, files: list[Path], frames: list[np.ndarray] = (), cache_bytes: int = DECODED_CACHE_BYTES):
        self.files, self.frames, self.cache_bytes = list(files), list(frames), cache_bytes
        self._cache: OrderedDict[int, np.ndarray] = OrderedDict()
        self._bytes = 0

    def __len__(self) -> int:
        return len(self.files) + len(self.frames)

    def __getitem__(self, i: int) -> np.ndarray:
        if i >= len(self.files):
            return self.frames[i - len(self.files)]
        if i in self._cache:
            self._cache.move_to_end(i)
            return self._cache[i]
        img = imageio.read_rgb(self.files[i])
        self._cache[i] = img
        self._bytes += img.nbytes
        while self._bytes > self.cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._bytes -= old.nbytes
        return img


def read_clean_dir(path: str | os.PathLike, min_side: int = 16) -> LazyImages:
    """Every image (decoded lazily, LazyImages) and every 15th frame of every video under PATH, recursively."""
    root = Path(path)
    if not root.exists():
        raise DataError(f"--clean '{root}' does not exist")
    files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    images: list[Path] = []
    frames: list[np.ndarray] = []
    small = 0
    for f in files:
        suffix = f.suffix.lower()
        if suffix in imageio.VIDEO_SUFFIXES:
            frames.extend(_video_frames(f))
        elif suffix in imageio.IMAGE_SUFFIXES:
            h, w = imageio.read_rgb(f).shape[:2]  # decodes now: a bad file fails before training, then is dropped
            small += min(h, w) < min_side
            images.append(f)
    if not images and not frames:
        raise DataError(f"--clean '{root}' holds no images ({', '.join(imageio.IMAGE_SUFFIXES)}) "
                        f"or videos ({', '.join(imageio.VIDEO_SUFFIXES)})")
    small += sum(min(im.shape[:2]) < min_side for im in frames)
    if small:
        raise DataError(f"--clean '{root}': {small} image(s) smaller than {min_side} px on a side")
    return LazyImages(images, frames)


def default_sources(haze: bool = False, video_look: float = 0.0, dead_leaves: float = 0.0,
                    leaf_textures: str = "plain", rain_mix: str = "") -> tuple[list[TrainSource], list[float]]:
    """The bundled training data: scikit-image's photos (installed with the package; no third-party frames ship).

    Road frames come in with --clean (the shipped models' recipe reads ../shared/data/road/permissive).
    """
    return [SyntheticRainSource([load_photo(p) for p in TRAIN_PHOTOS], "skimage-photos", haze, video_look,
                                 dead_leaves, leaf_textures, rain_mix)], [1.0]
