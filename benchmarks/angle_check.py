"""How much of the project's own rain a model removes at each streak angle, and how much it changes real rain.

Usage: python benchmarks/angle_check.py CHECKPOINT [CHECKPOINT ...]   (drn_base, drn_edge or a path; reads ../shared)

Photoshop-recipe rain (intensity 0.3, seed 0) at 0, 20, 45 and 60 degrees over the first evocargo frame at
640x360: the grey levels it added (mean over pixels and channels) and the grey levels the model took away.
Then the mean change on the real rainy frames of nturain_rb2 (8 of them) and its removal share, as drn-eval
--real reports it. Runs through ONNX Runtime on one thread.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
from script_cli import run_script

from drn_edge.artifacts import resolve_checkpoint
from drn_edge.evaluation.real_rain import real_rain_change
from drn_edge.imageio import list_images, read_rgb, to_float01, to_uint8
from drn_edge.model.checkpoint import load_checkpoint
from drn_edge.rain.family import render, sample_spec
from drn_edge.train.validation import onnxruntime_derain

SHARED = Path(__file__).resolve().parents[2] / "shared"


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    clean = cv2.resize(read_rgb(list_images(SHARED / "data/road/permissive/evocargo")[0]), (640, 360))
    for ckpt in argv:
        derain = onnxruntime_derain(load_checkpoint(resolve_checkpoint(ckpt))[0], 1)
        for angle in (0, 20, 45, 60):
            rng = np.random.default_rng(0)
            spec = sample_spec(rng, "photoshop", 0.3)
            spec = replace(spec, layers=tuple(replace(layer, angle=angle) for layer in spec.layers))
            rainy = to_uint8(render(to_float01(clean), spec, rng))
            added = (rainy.astype(float) - clean).mean()
            removed = (rainy.astype(float) - derain(rainy)).mean()
            print(f"{ckpt}: photoshop rain at {angle:2d} deg: added {added:.2f}, removed {removed:.2f} grey levels")
        real = real_rain_change(derain, SHARED / "data/road/rainy_real/nturain_rb2", max_frames=8)
        print(f"{ckpt}: real rain (nturain_rb2, 8 frames): mean change {real['mean_change']:.2f} grey levels, "
              f"{100 * real['removal_share']:.0f} % removal")


if __name__ == "__main__":
    run_script(main, __doc__)
