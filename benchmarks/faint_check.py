"""Which streaks does a model remove? The share of a streak layer's added light taken away, by its contrast and width.

Usage: python benchmarks/faint_check.py [--detail-gain K] [CHECKPOINT ...]   (default drn_base drn_edge; about a minute
each on one core)

Real streaks (nturain_rb2) are 10-30 grey levels above their surroundings and 2-4 px wide at 640x360. Here plain
anti-aliased lines at one angle (-35 degrees from vertical, 40-80 px long at 640x360, blurred) of a known brightness
are drawn over permissive road frames and over real rainy frames, at 640x360; each cell is the share of the light
they added that the model takes away (the model's change to the frame without them subtracted). The lines are ours,
not a training generator's, so the share is known over a real frame too. Reads ../shared; writes nothing.

--detail-gain K: every line reaches the model K times brighter (a probe: candidate_check.detail_gain_derain).
"""
from __future__ import annotations

import argparse

import cv2
import numpy as np
import torch
from candidate_check import REAL, ROAD, derainer, detail_gain_argument

from drn_edge.evaluation.eval_frames import fit_to_size
from drn_edge.imageio import list_images, read_rgb

AMPLITUDES = (25, 45, 90)  # grey levels of a line before its blur (the script prints its contrast after it)
SHAPES = ((1, 0.7), (2, 0.7), (3, 1.0), (4, 1.5))  # width px, Gaussian blur sigma px, at 640x360


def streak_layer(rng: np.random.Generator, width: int, blur: float, amplitude: float) -> np.ndarray:
    layer = np.zeros((360, 640), np.float32)
    angle = np.deg2rad(-35.0)
    for _ in range(1500 // width):
        x, y, half = rng.uniform(0, 640), rng.uniform(0, 360), rng.uniform(40, 80) / 2
        dx, dy = np.sin(angle) * half, np.cos(angle) * half
        cv2.line(layer, (int(x - dx), int(y - dy)), (int(x + dx), int(y + dy)),
                 float(amplitude * rng.uniform(0.8, 1.2)), width, cv2.LINE_AA)
    return cv2.GaussianBlur(layer, (0, 0), blur)


def removed(derain, frames: list[np.ndarray], width: int, blur: float, amplitude: float) -> tuple[float, float]:
    """(share of the added light removed, the lines' contrast: 90th percentile of their added light, grey levels)."""
    rng = np.random.default_rng(0)
    shares, peaks = [], []
    for frame in frames:
        layer = streak_layer(rng, width, blur, amplitude)
        rainy = np.clip(frame + layer[..., None], 0, 255).round().astype(np.uint8)
        added = rainy.astype(np.float32) - frame
        taken = (rainy.astype(np.float32) - derain(rainy)) - (frame.astype(np.float32) - derain(frame))
        shares.append(taken.mean() / max(added.mean(), 1e-6))
        peaks.append(np.percentile(layer[layer > 1], 90))
    return float(np.mean(shares)), float(np.mean(peaks))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="*", default=["drn_base", "drn_edge"])
    detail_gain_argument(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    road = [fit_to_size(read_rgb(f), 360, 640) for f in sorted((ROAD / "pandaset_seq002").rglob("*.jpg"))[::27]]
    real = [fit_to_size(read_rgb(f), 360, 640) for f in list_images(REAL)[::7]]
    for name in args.checkpoints:
        derain = derainer(name, args.detail_gain)
        probe = f", detail x{args.detail_gain:g}" if args.detail_gain != 1 else ""
        print(f"{name}{probe}: share of our lines' light removed (road frames | real rainy frames), by line brightness")
        for width, blur in SHAPES:
            cells = []
            for amplitude in AMPLITUDES:
                on_road, peak = removed(derain, road, width, blur, amplitude)
                on_real, _ = removed(derain, real, width, blur, amplitude)
                cells.append(f"contrast {peak:3.0f}: {on_road:5.2f} | {on_real:5.2f}")
            print(f"  width {width} px, blur {blur}:  " + "   ".join(cells), flush=True)


if __name__ == "__main__":
    main()
