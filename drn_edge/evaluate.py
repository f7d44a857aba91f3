"""Quality of a derain function on held-out photos (our rain) or a folder of input/target pairs (other rain)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .data import HELDOUT_PHOTOS, heldout_pairs
from .errors import ImageError
from .metrics import psnr, ssim, uqi
from .rain import LEVELS

DeRain = Callable[[np.ndarray], np.ndarray]  # HxWx3 uint8 RGB -> HxWx3 uint8 RGB
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def torch_derain(model, device: str = "cpu") -> DeRain:
    """Wrap a torch DRN as a uint8 RGB -> uint8 RGB function with reflect padding to a multiple of 8."""
    import torch

    def run(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        t = rgb_to_tensor(rgb, device)
        with torch.no_grad():
            y = model(t)[0].clamp(0, 1).cpu().numpy().transpose(1, 2, 0)[:h, :w]
        return (y * 255.0 + 0.5).astype(np.uint8)

    return run


def rgb_to_tensor(rgb: np.ndarray, device: str = "cpu"):
    """HxWx3 uint8 RGB -> 1x3xH'xW' float tensor in [0, 1], reflect-padded to a multiple of 8."""
    import torch

    h, w = rgb.shape[:2]
    x = rgb.astype(np.float32) / 255.0
    if h % 8 or w % 8:
        x = np.pad(x, ((0, (-h) % 8), (0, (-w) % 8), (0, 0)), mode="reflect")
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)))[None].to(device)


def scores(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    return {"psnr": psnr(a, b), "ssim": ssim(a, b), "uqi": uqi(a, b)}


def _mean(rows: list[dict[str, float]]) -> dict[str, float]:
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def evaluate_pairs(derain: DeRain, pairs: Iterable[tuple[str, np.ndarray, np.ndarray]]) -> dict:
    """Mean rainy-vs-clean and derained-vs-clean PSNR/SSIM/UQI, plus the per-image rows."""
    rows = []
    for name, rainy, clean in pairs:
        out = derain(rainy)
        rows.append({"name": name, "rainy": scores(rainy, clean), "derained": scores(out, clean)})
    if not rows:
        raise ImageError("no image pairs to evaluate")
    return {"rainy": _mean([r["rainy"] for r in rows]), "derained": _mean([r["derained"] for r in rows]), "images": rows}


def evaluate_heldout(derain: DeRain, levels: Iterable[str] = tuple(LEVELS), seed: int = 1234,
                     photos: tuple[str, ...] = HELDOUT_PHOTOS) -> dict[str, dict]:
    """Per rain level, on the held-out photos training never saw (fixed rain seeds, so numbers reproduce)."""
    return {lvl: evaluate_pairs(derain, heldout_pairs(lvl, seed, photos)) for lvl in levels}


def read_rgb(path: str | os.PathLike) -> np.ndarray:
    """An image file as HxWx3 uint8 RGB, with a clear error for anything unreadable."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise ImageError(f"image '{path}' does not exist")
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None or img.size == 0:
        raise ImageError(f"cannot decode image '{path}': not an image OpenCV can read, or the file is damaged")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def pairs_from_dir(folder: str | os.PathLike) -> list[tuple[str, np.ndarray, np.ndarray]]:
    """Pairs from FOLDER/input/NAME and FOLDER/target/NAME (the Rain200H / DRSformer layout)."""
    folder = Path(folder)
    inp, tgt = folder / "input", folder / "target"
    if not inp.is_dir() or not tgt.is_dir():
        raise ImageError(f"'{folder}' must contain input/ and target/ folders of matching image names")
    names = sorted(p.name for p in inp.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not names:
        raise ImageError(f"no images in '{inp}'")
    out = []
    for n in names:
        rainy, clean = read_rgb(inp / n), read_rgb(tgt / n)
        if rainy.shape != clean.shape:
            raise ImageError(f"'{n}': input {rainy.shape} and target {clean.shape} differ in size")
        out.append((n, rainy, clean))
    return out
