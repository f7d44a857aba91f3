"""Torch-free image I/O: the suffix lists, folder listing, decoding, paired-folder discovery, atomic writes.

Used by the runtime, the CLIs, calibration and training, so one list of suffixes and one decoder
error message hold everywhere.
"""
from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from drn_edge.checks import missing
from drn_edge.errors import DataError, ImageError

__all__ = ["IMAGE_SUFFIXES", "VIDEO_SUFFIXES", "WRITABLE_IMAGE_SUFFIXES", "WRITABLE_VIDEO_SUFFIXES", "to_float01",
           "to_uint8", "list_images", "read_rgb", "write_image",
           "put_label", "labelled_grid",
           "find_pairs", "read_pairs", "PAIR_LAYOUTS"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
WRITABLE_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
VIDEO_SUFFIXES = (".mp4", ".avi", ".mov", ".mkv", ".m4v", ".webm")   # read (OpenCV's FFmpeg decodes these)
WRITABLE_VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".mov")              # written (containers OpenCV's writer opens)
# Paired rain datasets: (rainy folder, clean folder) names, as Rain200H/DRSformer, Rain100 and DDN-style sets lay them out.
PAIR_LAYOUTS = (("input", "target"), ("rain", "norain"), ("rainy", "gt"), ("data", "gt"))
# SPA-Data style name pairs in one folder: NAME<rain-tag>.EXT and NAME<gt-tag>.EXT
NAME_PAIR_TAGS = (("rain", "gt"), ("_rain", "_clean"))


def to_float01(img: np.ndarray) -> np.ndarray:
    """uint8 0..255 -> float32 0..1: the one such conversion."""
    return img.astype(np.float32) / np.float32(255.0)


def to_uint8(img: np.ndarray) -> np.ndarray:
    """float 0..1 -> uint8 0..255, clipped and rounded half up: the one such rounding (uint8 passes through)."""
    if img.dtype == np.uint8:
        return img
    return (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def list_images(folder: str | os.PathLike) -> list[Path]:
    """Image files directly in FOLDER, sorted; a clear error when there are none."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ImageError(f"'{folder}' is not a folder")
    found = sorted(p for p in folder.iterdir() if p.is_file() and is_image(p))
    if not found:
        raise ImageError(f"folder '{folder}' has no images ({', '.join(IMAGE_SUFFIXES)})")
    return found


def declared_size(path: str | os.PathLike) -> tuple[int, int] | None:
    """(height, width) from a PNG or JPEG header without decoding the pixels; None for other files."""
    with open(path, "rb") as f:
        head = f.read(32)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            w, h = struct.unpack(">II", head[16:24])
            return h, w
        if head[:2] != b"\xff\xd8":
            return None
        f.seek(2)
        while True:
            marker = f.read(2)
            if len(marker) < 2 or marker[0] != 0xFF:
                return None
            if marker[1] in (0xD8, 0x01) or 0xD0 <= marker[1] <= 0xD7:
                continue
            length = f.read(2)
            if len(length) < 2:
                return None
            (n,) = struct.unpack(">H", length)
            if 0xC0 <= marker[1] <= 0xCF and marker[1] not in (0xC4, 0xC8, 0xCC):
                data = f.read(5)
                return (struct.unpack(">H", data[1:3])[0], struct.unpack(">H", data[3:5])[0]) if len(data) == 5 else None
            f.seek(n - 2, 1)


def read_rgb(path: str | os.PathLike, max_pixels: int | None = None) -> np.ndarray:
    """An image file as HxWx3 uint8 RGB, with a clear error for anything unreadable. With `max_pixels`, a PNG or
    JPEG whose header declares more is refused before decoding (a 195 KiB PNG of 8000x8000 took 3.5 GB)."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image '{path}' {missing(path)}")
    size = declared_size(path) if max_pixels else None
    if size and size[0] * size[1] > max_pixels:
        raise ImageError(f"image '{path}' is {size[0]}x{size[1]} (HxW, {size[0] * size[1]:,} pixels), more than "
                         f"{max_pixels:,}; resize it first")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise ImageError(f"cannot decode image '{path}': not an image OpenCV can read, or the file is damaged")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def write_image(path: str | os.PathLike, bgr: np.ndarray, jpeg_quality: int = 95) -> Path:
    """Encode by suffix (unknown suffixes refused) and write atomically."""
    import cv2

    # lazy: runtime.frames imports this module and must load no output machinery (tests/test_layers.py)
    from drn_edge.outputs import write_bytes

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITABLE_IMAGE_SUFFIXES:
        raise ImageError(f"cannot write '{path}': use one of {', '.join(WRITABLE_IMAGE_SUFFIXES)}")
    params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality] if suffix in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(suffix, bgr, params)
    if not ok:
        raise ImageError(f"OpenCV could not encode '{path}'")
    write_bytes(path, data.tobytes())
    return path


def put_label(bgr: np.ndarray, text: str, org: tuple[int, int] = (6, 20), scale: float = 0.5) -> np.ndarray:
    """White text with a black outline, readable on any frame (drawn in place; returns the image)."""
    import cv2

    for colour, thickness in (((0, 0, 0), 3), ((255, 255, 255), 1)):
        cv2.putText(bgr, text[:40], org, cv2.FONT_HERSHEY_SIMPLEX, scale, colour, thickness, cv2.LINE_AA)
    return bgr


def labelled_grid(rows: list[list[tuple[np.ndarray, str]]], tile_height: int = 240) -> np.ndarray:
    """RGB tiles with their labels, one list per row, each resized to tile_height: one BGR image, rows padded."""
    import cv2

    lines = []
    for row in rows:
        tiles = [put_label(np.ascontiguousarray(cv2.resize(img, (int(img.shape[1] * tile_height / img.shape[0]),
                                                                 tile_height), interpolation=cv2.INTER_AREA)[..., ::-1]),
                           label) for img, label in row]
        lines.append(np.hstack(tiles))
    width = max(r.shape[1] for r in lines)
    return np.vstack([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in lines])


def find_pairs(folder: str | os.PathLike) -> list[tuple[str, Path, Path]]:
    """(name, rainy path, clean path) for a paired rain dataset in one of the common layouts.

    Layouts: FOLDER/input + FOLDER/target (Rain200H as DRSformer ships it), rain/norain (Rain100),
    rainy/gt, data/gt, or SPA-Data's name pairs in one folder (``NAMErain.png`` + ``NAMEgt.png``).
    Pairs match by file stem. Every rainy image needs its clean partner and vice versa.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError(f"paired folder '{folder}' does not exist or is not a folder")
    for rain_name, clean_name in PAIR_LAYOUTS:
        rain_dir, clean_dir = folder / rain_name, folder / clean_name
        if rain_dir.is_dir() and clean_dir.is_dir():
            rain = {p.stem: p for p in rain_dir.iterdir() if p.is_file() and is_image(p)}
            clean = {p.stem: p for p in clean_dir.iterdir() if p.is_file() and is_image(p)}
            return _match(folder, rain, clean, f"{rain_name}/", f"{clean_name}/")
    files = [p for p in folder.iterdir() if p.is_file() and is_image(p)]
    partial = None
    for rain_tag, gt_tag in NAME_PAIR_TAGS:  # "_rain" also ends in "rain": a tag pair counts only with both sides
        rain = {p.stem[: -len(rain_tag)]: p for p in files if p.stem.endswith(rain_tag)}
        clean = {p.stem[: -len(gt_tag)]: p for p in files if p.stem.endswith(gt_tag)}
        if rain and clean:
            return _match(folder, rain, clean, f"*{rain_tag}.*", f"*{gt_tag}.*")
        if (rain or clean) and partial is None:
            partial = (rain, clean, f"*{rain_tag}.*", f"*{gt_tag}.*")
    if partial is not None:
        return _match(folder, *partial)
    layouts = ", ".join(f"{a}/ + {b}/" for a, b in PAIR_LAYOUTS)
    raise DataError(f"'{folder}' is not a paired rain dataset: expected {layouts}, or *rain.* / *gt.* name pairs")


def _match(folder: Path, rain: dict[str, Path], clean: dict[str, Path], rain_label: str,
           clean_label: str) -> list[tuple[str, Path, Path]]:
    if not rain and not clean:
        raise DataError(f"paired folder '{folder}' has no images in {rain_label} and {clean_label}")
    lonely_rain, lonely_clean = sorted(set(rain) - set(clean)), sorted(set(clean) - set(rain))
    if lonely_rain or lonely_clean:
        detail = []
        if lonely_rain:
            detail.append(f"{len(lonely_rain)} in {rain_label} without a clean partner (e.g. {lonely_rain[0]!r})")
        if lonely_clean:
            detail.append(f"{len(lonely_clean)} in {clean_label} without a rainy partner (e.g. {lonely_clean[0]!r})")
        raise DataError(f"unmatched pairs in '{folder}': " + "; ".join(detail))
    return [(k, rain[k], clean[k]) for k in sorted(rain)]


def read_pairs(folder: str | os.PathLike) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """(name, rainy RGB, clean RGB) for every pair find_pairs finds; both images of a pair must match in size."""
    out = []
    for name, rainy_path, clean_path in find_pairs(folder):
        rainy, clean = read_rgb(rainy_path), read_rgb(clean_path)
        if rainy.shape != clean.shape:
            raise DataError(f"pair '{name}' in '{folder}': rainy {rainy.shape[1]}x{rainy.shape[0]} and clean "
                            f"{clean.shape[1]}x{clean.shape[0]} differ in size; pairs must be aligned frames")
        out.append((name, rainy, clean))
    return out
