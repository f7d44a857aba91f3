"""Why do the models leave real rain? How much of our own rain a model removes depending on the scene beneath it.

Usage: python benchmarks/context_check.py [CHECKPOINT]   (default drn_base; about a minute on one core)

Our own medium preset rain (and drizzle, the look of real rain) is drawn over a permissive road frame changed one way
at a time (blur, JPEG, noise, darker, flatter, greyscale, a scene negative) and over real rainy frames of
nturain_rb2 (as they are, low-passed, greyscale, the look of one with the fine detail of the other, and a composite:
left half road, right half real); each line is the
share of the added light the model takes away. The rain is ours, so the share is known even over a real frame.
Reads ../shared; writes nothing.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch
from candidate_check import REAL, ROAD, greyscale, removed_share
from script_cli import run_script

from drn_edge.evaluation.eval_frames import fit_to_size
from drn_edge.evaluation.fidelity import torch_derain
from drn_edge.imageio import list_images, read_rgb, to_float01, to_uint8
from drn_edge.model.checkpoint import load_model
from drn_edge.rain import scene_negatives
from drn_edge.rain.preset import synthesize


def _jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    return cv2.imdecode(cv2.imencode(".jpg", rgb, [cv2.IMWRITE_JPEG_QUALITY, quality])[1], cv2.IMREAD_UNCHANGED)


def _negative(rgb: np.ndarray, kind: str) -> np.ndarray:
    img = to_float01(rgb)
    scene_negatives._DRAW[kind](img, np.random.default_rng(3), rgb.shape[0] / 720)
    return to_uint8(img)


def scenes() -> dict[str, np.ndarray]:
    road = fit_to_size(read_rgb(sorted((ROAD / "pandaset_seq002").rglob("*.jpg"))[10]), 360, 640)
    real = [fit_to_size(read_rgb(f), 360, 640) for f in list_images(REAL)[::7]]
    noisy = np.clip(road + np.random.default_rng(0).normal(0, 5, road.shape), 0, 255).astype(np.uint8)
    return {"road frame": road, "blurred (sigma 2 px)": cv2.GaussianBlur(road, (0, 0), 2.0),
            "JPEG quality 30": _jpeg(road, 30), "noise (sigma 5)": noisy, "half as bright": (road * 0.5).astype(np.uint8),
            "flat (half contrast, brighter)": (road * 0.5 + 60).astype(np.uint8), "greyscale": greyscale(road),
            "snow negative": _negative(road, "snow"), "overcast negative": _negative(road, "light"),
            **{f"real rainy frame {i}": r for i, r in enumerate(real)},
            "real frame 0, greyscale": greyscale(real[0]),
            "real frame 0, low-passed (sigma 2 px)": cv2.GaussianBlur(real[0], (0, 0), 2.0),
            "real frame 0, low-passed (sigma 8 px)": cv2.GaussianBlur(real[0], (0, 0), 8.0),
            "road frame's look, real frame 0's detail": _swap_detail(road, real[0]),
            "real frame 0's look, road frame's detail": _swap_detail(real[0], road)}


def _swap_detail(look: np.ndarray, detail: np.ndarray) -> np.ndarray:
    """`look` low-passed (4 px) plus `detail`'s fine detail (it minus its own 4 px blur): which of the two holds back?"""
    a, b = look.astype(np.float32), detail.astype(np.float32)
    mixed = cv2.GaussianBlur(a, (0, 0), 4.0) + b - cv2.GaussianBlur(b, (0, 0), 4.0)
    return np.clip(mixed, 0, 255).round().astype(np.uint8)


def composite(derain, road: np.ndarray, real: np.ndarray) -> tuple[float, float]:
    """Left half road, right half real: the share removed in each half (is the suppression local?)."""
    frame = road.copy()
    frame[:, 320:] = real[:, 320:]
    rainy = synthesize(frame, "medium", seed=1, scale=frame.shape[0] * 16 / 9 / 640).astype(np.float32)
    added, removed = rainy - frame, rainy - derain(rainy.astype(np.uint8))
    return tuple(float(removed[:, s].mean() / added[:, s].mean()) for s in (slice(0, 320), slice(320, 640)))


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    name = argv[0] if argv else "drn_base"
    derain = torch_derain(load_model(name).eval())
    print(f"{name}: share of our own rain removed, by the scene beneath it")
    frames = scenes()
    for label, frame in frames.items():
        print(f"  {label:40s} medium {removed_share(derain, frame, 'medium'):.2f}  "
              f"drizzle {removed_share(derain, frame, 'drizzle'):.2f}", flush=True)
    left, right = composite(derain, frames["road frame"], frames["real rainy frame 0"])
    print(f"  composite, left half road / right half real frame 0: medium {left:.2f} / {right:.2f}")


if __name__ == "__main__":
    run_script(main, __doc__)
