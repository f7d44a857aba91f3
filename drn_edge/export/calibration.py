"""INT8 calibration in one room: the frames (your --calib folder, read and checked), the reader that feeds them
(onnxruntime's CalibrationDataReader shape), the size rule, and the shipped ranges of the shipped checkpoints.

Shipped INT8 activation ranges are what TensorRT calls a calibration cache, for each shipped checkpoint.

The project ships no third-party frames, so ``drn-export --int8`` cannot calibrate the shipped
models on bundled images. Instead the ranges were computed once, by calibrating each shipped
checkpoint on permissive road frames (read from ../shared) under the rain family, and ship as
``calibration_ranges/<model>.json``: ONNX Runtime's calibration cache (tensor -> range) for each
graph I/O variant, with its provenance (frames' sources, count, size, method, the checkpoint's
sha256). A checkpoint whose sha256 matches uses them; any other needs ``--calib DIR``.

Rebuild (after retraining a shipped model): ``python -m drn_edge.export.calibration --road DIR``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from drn_edge.artifacts import SHIPPED_MODELS
from drn_edge.errors import CalibrationError, ImageError
from drn_edge.evaluation.eval_frames import clean_dir_sources
from drn_edge.export.quantize import DEFAULT_PERCENTILE, quantize_int8
from drn_edge.imageio import IMAGE_SUFFIXES, read_rgb, to_float01, to_uint8, write_image
from drn_edge.imageio import list_images as list_image_files
from drn_edge.onnx_spec import INPUT_NAME, IO_MODES
from drn_edge.outputs import loads_bounded, sha256_file, write_json
from drn_edge.photos import TRAIN_PHOTOS, load_photo
from drn_edge.runtime.frames import hwc_to_nchw_float

__all__ = ["RANGES_DIR", "CALIBRATION_FOLDERS", "CALIB_MAX_PIXELS", "FEW_CALIBRATION_FRAMES", "find_calibration_dir",
           "list_images", "load_calibration_frames", "calibration_hash", "FrameCalibrationReader", "shipped_ranges_for",
           "calibration_size", "read_manifest", "rain_over", "calibration_frames", "make_calibration_set", "shipped_ranges",
           "build_ranges", "main"]

RANGES_DIR = Path(__file__).parent / "calibration_ranges"
# Permissive road folders (../shared/data/road/permissive) the shipped ranges are computed from:
# every condition the models meet (highway, city at evening, mountain road with glare).
CALIBRATION_FOLDERS = {
    "comma2k19": "MIT, Copyright (c) 2018 comma.ai",
    "udacity_ch2_hmb3_clip": "MIT, Copyright (c) 2016 Udacity",
    "pandaset_seq002": "CC BY 4.0, PandaSet by Hesai and Scale AI",
}
# The shipped ranges come from 360x640 frames, above the cap users calibrate under (CALIB_MAX_PIXELS; built once, on a
# 24 GB machine): more pixels give the heavy-rain tail its due (the measured drops: docs/models.md, INT8).
RANGE_COUNT, RANGE_SIZE, RANGE_SEED, RANGE_METHOD = 36, (360, 640), 77, "percentile"
RAIN_BANDS = {"low": (0.0, 0.33), "medium": (0.33, 0.67), "high": (0.67, 1.0)}


# Calibration runs at the frames' own size scaled down to at most this many pixels (240x320): collecting
# ranges holds ~13 KB of intermediate tensors per pixel for drn_base, so this bounds it near 1 GB. The net is
# fully convolutional: the ranges carry over to any export size.
CALIB_MAX_PIXELS = 240 * 320
FEW_CALIBRATION_FRAMES = 16  # fewer than this and the INT8 ranges rest on little evidence: warn


def find_calibration_dir() -> Path | None:
    """$DRN_CALIBRATION_DIR (the default --calib), else None: the shipped ranges of a shipped checkpoint."""
    env = os.environ.get("DRN_CALIBRATION_DIR")
    if env:
        if not Path(env).is_dir():
            raise CalibrationError(f"DRN_CALIBRATION_DIR={env} is not a folder")
        return Path(env)
    return None


def list_images(folder: str | os.PathLike) -> list[Path]:
    """imageio.list_images, with what an empty or missing calibration folder means for INT8."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CalibrationError(f"calibration folder '{folder}' does not exist or is not a folder")
    try:
        return list_image_files(folder)
    except ImageError:
        raise CalibrationError(
            f"calibration folder '{folder}' holds no images ({', '.join(IMAGE_SUFFIXES)}); an empty set cannot "
            "give INT8 scales. Add frames from your camera (a few dozen, in the weather you expect)") from None


def load_calibration_frames(folder: str | os.PathLike, height: int, width: int) -> list[np.ndarray]:
    """Every image in `folder` as HxWx3 uint8 RGB resized to (height, width); all unreadable files named at once."""
    import cv2

    frames, bad = [], []
    for path in list_images(folder):
        try:
            img = read_rgb(path)
        except ImageError:
            bad.append(path.name)
            continue
        if img.shape[:2] != (height, width):
            img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
        frames.append(img)
    if bad:
        raise CalibrationError(f"cannot decode {len(bad)} calibration image(s) in '{folder}': {', '.join(bad)}; "
                               "remove or replace them")
    return frames


def calibration_hash(folder: str | os.PathLike) -> str:
    """sha256 over (name, content) of every calibration image: recorded in the sidecars."""
    h = hashlib.sha256()
    for path in list_images(folder):
        h.update(path.name.encode() + b"\0" + hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


class FrameCalibrationReader:
    """Feeds uint8 RGB frames to a graph in its own input format, in onnxruntime's CalibrationDataReader shape
    (get_next, __len__, set_range)."""

    def __init__(self, frames: list[np.ndarray], input_name: str, uint8_bgr_io: bool):
        if not frames:
            raise CalibrationError("no calibration frames")
        self.frames, self.input_name, self.uint8_bgr_io = frames, input_name, uint8_bgr_io
        self.rewind()

    def __len__(self) -> int:
        return len(self.frames)

    def feed(self, i: int) -> dict[str, np.ndarray]:
        rgb = self.frames[i]
        if self.uint8_bgr_io:
            return {self.input_name: np.ascontiguousarray(rgb[None, ..., ::-1])}

        return {self.input_name: hwc_to_nchw_float(rgb)}

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next >= self._end:
            return None
        self._next += 1
        return self.feed(self._next - 1)

    def set_range(self, start_index: int, end_index: int) -> None:
        """onnxruntime's strided calibration reads the frames in slices; get_next then stops at end_index."""
        self._next, self._end = max(0, start_index), min(end_index, len(self.frames))

    def rewind(self) -> None:
        self.set_range(0, len(self.frames))


def shipped_ranges_for(ckpt: Path, c, pruned: bool) -> dict:
    """INT8 without --calib: the shipped ranges, which exist only for an unmodified shipped checkpoint.
    `c` is the request's calibration settings (export.request.CalibrationRequest)."""
    given = [flag for flag, on in (("--calib-method", c.method != "percentile"), ("--calib-size", c.size)) if on]
    if given:
        raise CalibrationError(f"{' and '.join(given)} need --calib DIR: without it the shipped INT8 ranges are used, "
                               "which were computed once (percentile method)")
    record = shipped_ranges(ckpt) if ckpt.is_file() and not pruned else None
    if record is None:
        what = "a pruned model" if pruned else f"checkpoint '{ckpt.name}'"
        raise CalibrationError(f"INT8 of {what} needs calibration frames: pass --calib DIR (a few dozen rainy frames "
                               "from your camera); shipped INT8 ranges exist only for drn_base and drn_edge")
    return record


def calibration_size(folder: Path) -> tuple[int, int]:
    """The calibration size rule: the first frame's size, scaled down (aspect kept) to at most CALIB_MAX_PIXELS,
    rounded down to a multiple of 8; every frame is resized to it."""
    import cv2

    img = cv2.imread(str(list_images(folder)[0]), cv2.IMREAD_COLOR)
    if img is None:
        raise CalibrationError(f"cannot decode calibration image '{list_images(folder)[0]}'")
    h, w = img.shape[:2]
    f = min(1.0, math.sqrt(CALIB_MAX_PIXELS / (h * w)))
    return max(8, int(h * f) // 8 * 8), max(8, int(w * f) // 8 * 8)


def read_manifest(folder: str | os.PathLike) -> list[dict]:
    """The calibration set's manifest.json entries (file, source, licence, rain_level); checked against the folder."""
    path = Path(folder) / "manifest.json"
    try:
        data = loads_bounded(path.read_bytes(), f"'{path}'")
    except FileNotFoundError:
        raise CalibrationError(f"'{folder}' has no manifest.json (your own frames need none; this is for shipped sets)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CalibrationError(f"'{path}' is not valid JSON: {exc}") from None
    frames = data.get("frames") if isinstance(data, dict) else None
    if not isinstance(frames, list) or not all(isinstance(e, dict) and isinstance(e.get("file"), str) for e in frames):
        raise CalibrationError(f"'{path}' must be an object with a 'frames' list of {{file, source, licence, rain_level}}")
    missing = [e["file"] for e in frames if not (Path(folder) / e["file"]).is_file()]
    if missing:
        raise CalibrationError(f"'{path}' lists files that are not there: {', '.join(missing[:5])}")
    return frames


def rain_over(frames: list[np.ndarray], seed: int = RANGE_SEED) -> list[np.ndarray]:
    """Your clean calibration frames as the engine will see them: the rain family drawn over each (seeded), a
    third each at low, medium and high intensity."""
    # lazy: pulls in OpenCV, which importing this module does not
    from drn_edge.rain.family import render, sample_spec

    rng = np.random.default_rng(seed)
    out = []
    for i, frame in enumerate(frames):
        band = RAIN_BANDS[list(RAIN_BANDS)[i % 3]]
        spec = sample_spec(rng, intensity=float(rng.uniform(*band)))
        out.append(to_uint8(render(to_float01(frame), spec, rng)))
    return out


def calibration_frames(sources: Sequence[tuple[str, np.ndarray]], count: int, height: int, width: int,
                       seed: int = RANGE_SEED) -> list[tuple[str, str, np.ndarray]]:
    """(source name, rain level, rainy HxWx3 uint8 RGB): random scales, crops and flips of the sources under
    rain drawn from the whole family, a third each at low, medium and high intensity, so the ranges
    cover heavy rain too."""
    import cv2

    # lazy: pulls in OpenCV, which importing this module does not
    from drn_edge.rain.family import render, sample_spec

    if not sources:
        raise CalibrationError("no frames to calibrate on")
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        name, img = sources[int(rng.integers(len(sources)))]
        h, w = img.shape[:2]
        f = rng.uniform(max(height / h, width / w), max(1.0, height / h, width / w))
        img = cv2.resize(img, (max(width, round(w * f)), max(height, round(h * f))), interpolation=cv2.INTER_AREA)
        y, x = int(rng.integers(img.shape[0] - height + 1)), int(rng.integers(img.shape[1] - width + 1))
        crop = np.ascontiguousarray(img[y: y + height, x: x + width])
        if rng.random() < 0.5:
            crop = np.ascontiguousarray(crop[:, ::-1])
        level = list(RAIN_BANDS)[i % 3]
        spec = sample_spec(rng, intensity=float(rng.uniform(*RAIN_BANDS[level])))
        rainy = render(to_float01(crop), spec, rng, frame_height=float(img.shape[0]))
        out.append((name, level, to_uint8(rainy)))
    return out


def make_calibration_set(out_dir, sources: list[tuple[str, np.ndarray]] | None = None, count: int = 24,
                         height: int = 240, width: int = 320, seed: int = 77) -> list[dict]:
    """Write rainy calibration frames (JPEG) plus manifest.json into `out_dir`, for ``drn-export --calib``.

    `sources`: (name, clean RGB) frames, e.g. your camera's; default: the held-out-free training
    photos of scikit-image. Rain is drawn from the whole family, a third each at low, medium and
    high intensity (drn_edge.export.calibration.calibration_frames).
    """
    import cv2

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
                                       "made_by": f"drn_edge.export.calibration.make_calibration_set(count={count}, height={height}, "
                                                  f"width={width}, seed={seed})"})
    return entries


def shipped_ranges(checkpoint: str | os.PathLike) -> dict | None:
    """The shipped ranges record whose checkpoint sha256 matches this file, or None."""
    digest = sha256_file(checkpoint)
    for path in sorted(RANGES_DIR.glob("*.json")) if RANGES_DIR.is_dir() else ():
        record = _read_ranges_record(path)
        if record["provenance"]["checkpoint_sha256"] == digest:
            return record
    return None


def _read_ranges_record(path: Path) -> dict:
    """A shipped ranges file, checked: readable JSON, finite numbers, a provenance, and for every I/O mode a table of
    tensor -> (lowest <= highest). A damaged one is an error that names it, never an INT8 model made from it."""
    def damaged(why: str) -> CalibrationError:
        return CalibrationError(f"the shipped INT8 ranges file '{path}' is damaged ({why}); reinstall drn-edge, or "
                                "calibrate on your own frames with --calib DIR")

    try:
        record = loads_bounded(path.read_bytes(), f"ranges file '{path.name}'", finite=True)
    except (ValueError, OSError) as exc:
        raise damaged(str(exc)) from None
    caches = record.get("ort_calibration_cache") if isinstance(record, dict) else None
    if not isinstance(record.get("provenance") if isinstance(record, dict) else None, dict) \
            or not isinstance(record["provenance"].get("checkpoint_sha256"), str) or not isinstance(caches, dict):
        raise damaged("no provenance or no ranges")
    for io in IO_MODES:
        data = caches.get(io, {}).get("data") if isinstance(caches.get(io), dict) else None
        if not isinstance(data, dict) or not data:
            raise damaged(f"no ranges for the {io} graph")
        for tensor, entry in data.items():
            low = entry.get("lowest") if isinstance(entry, dict) else None
            high = entry.get("highest") if isinstance(entry, dict) else None
            high = high.get("data") if isinstance(high, dict) else high
            low = low.get("data") if isinstance(low, dict) else low
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)) or low > high:
                raise damaged(f"tensor '{tensor}' of the {io} graph has no valid range (lowest {low!r}, highest {high!r})")
    return record


def build_ranges(model_name: str, road_root: str | os.PathLike, method: str = RANGE_METHOD,
                 count: int = RANGE_COUNT, size: tuple[int, int] = RANGE_SIZE, log=print) -> Path:
    """Calibrate the shipped `model_name` on the permissive road folders under `road_root`; write its ranges JSON."""
    # lazy: pulls in onnx, torch, which importing this module does not
    from drn_edge.export.torch_to_onnx import ExportSpec, export_onnx
    from drn_edge.model.checkpoint import load_checkpoint

    ckpt = SHIPPED_MODELS[model_name]
    model = load_checkpoint(ckpt)[0]
    sources, folders = [], []
    for folder, licence in CALIBRATION_FOLDERS.items():
        found = clean_dir_sources(Path(road_root) / folder)
        sources += [(f"{folder}/{n}", img) for n, img in found]
        folders.append({"folder": folder, "frames": len(found), "licence": licence})
    frames = calibration_frames(sources, count, *size)
    caches = {}
    with tempfile.TemporaryDirectory() as work:
        for io in IO_MODES:
            graph = export_onnx(model, Path(work) / f"{io}.onnx", ExportSpec(io=io))
            reader = FrameCalibrationReader([f[2] for f in frames], INPUT_NAME[io], io == "uint8")
            cache = Path(work) / f"{io}.ranges.json"
            log(f"{model_name}: calibrating the {io}-I/O graph on {len(frames)} frames at {size[0]}x{size[1]} ...")
            quantize_int8(graph, Path(work) / f"{io}.int8.onnx", reader, method, cache_path=cache)
            caches[io] = json.loads(cache.read_text())
    record = {
        "provenance": {
            "model": model_name, "checkpoint": ckpt.name, "checkpoint_sha256": sha256_file(ckpt),
            "method": method, "percentile": DEFAULT_PERCENTILE if method == "percentile" else None,
            "frames": count, "size": list(size), "seed": RANGE_SEED,
            "sources": folders, "rain": "drn_edge.rain.family, a third each low/medium/high intensity",
            "made_by": f"python -m drn_edge.export.calibration --road ../shared/data/road/permissive --model {model_name}",
        },
        "ort_calibration_cache": caches,
    }
    out = RANGES_DIR / f"{model_name}.json"
    write_json(out, record)
    log(f"wrote {out}")
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m drn_edge.export.calibration",
                                description="Rebuild the shipped INT8 ranges of the shipped checkpoints.")
    p.add_argument("--road", required=True, help="the permissive road folder (../shared/data/road/permissive)")
    p.add_argument("--model", action="append", choices=sorted(SHIPPED_MODELS), help="default: every shipped model")
    args = p.parse_args(argv)
    for name in args.model or sorted(SHIPPED_MODELS):
        build_ranges(name, args.road)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
