"""Is it the rain or the scene? Rain100L's rain and ours, each over Rain100L's photographs and over road frames.

Usage: python benchmarks/scene_check.py [CHECKPOINT ...]   (default: drn_base drn_edge; ~20 s a model on one core)

Rows, each the mean PSNR gain (dB, RGB, 20 pairs or frames at up to 320x480):
  Rain100L as it is (its rain over its photographs); Rain100L's rain layer (rainy minus clean) added to a permissive
  road frame; our light and medium preset rain over Rain100L's clean photographs; our light rain over a road frame
  and over a generated dead-leaves scene (drn-train --dead-leaves). A model that gains much more over road frames
  than over photographs for the same rain holds back over the photographs' texture: the scenes it trained on, not
  the look of the rain, are what it lacks. Reads ../shared (Rain100L is evaluation data, never trained on); writes
  nothing.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from candidate_check import ROAD, SHARED, derainer
from script_cli import run_script

from drn_edge.evaluation.eval_frames import fit_to_size
from drn_edge.evaluation.metrics import capped_psnr
from drn_edge.imageio import read_rgb
from drn_edge.rain.preset import synthesize
from drn_edge.train.scenes import dead_leaves

RAIN100L = SHARED / "eval" / "rain100l"
SIDE = (320, 480)


def _roads(n: int) -> list[np.ndarray]:
    files = sorted((ROAD / "pandaset_seq002").rglob("*.jpg"))[5::8] + sorted((ROAD / "udacity_ch2_hmb3").rglob("*.jpg"))[5::28]
    return [fit_to_size(read_rgb(f), *SIDE) for f in files[:n]]


def check(name: str) -> dict[str, float]:
    derain = derainer(name)
    names = sorted(p.name for p in (RAIN100L / "input").iterdir())
    roads = _roads(len(names))
    rows: dict[str, list[float]] = {}

    def gain(row: str, rainy: np.ndarray, clean: np.ndarray) -> None:
        rows.setdefault(row, []).append(capped_psnr(derain(rainy), clean) - capped_psnr(rainy, clean))

    for i, n in enumerate(names):
        rainy, clean = read_rgb(RAIN100L / "input" / n), read_rgb(RAIN100L / "target" / n)
        h, w = (min(rainy.shape[0], SIDE[0]) // 8) * 8, (min(rainy.shape[1], SIDE[1]) // 8) * 8
        rainy, clean = rainy[:h, :w], clean[:h, :w]
        road = roads[i % len(roads)][:h, :w]
        gain("Rain100L as it is", rainy, clean)
        layer = rainy.astype(np.float32) - clean
        gain("Rain100L's rain over a road frame", np.clip(road + layer, 0, 255).astype(np.uint8), road)
        gain("our light rain over Rain100L's photos", synthesize(clean, "low", seed=i), clean)
        gain("our medium rain over Rain100L's photos", synthesize(clean, "medium", seed=i), clean)
        gain("our light rain over a road frame", synthesize(road, "low", seed=i), road)
        leaves = dead_leaves(np.random.default_rng(i), max(h, w))[:h, :w]
        gain("our light rain over a dead-leaves scene", synthesize(leaves, "low", seed=i), leaves)
    return {row: float(np.mean(v)) for row, v in rows.items()}


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    for name in argv or ["drn_base", "drn_edge"]:
        print(f"== {Path(name).name}")
        for row, value in check(name).items():
            print(f"  {row:42s} {value:+.2f} dB")


if __name__ == "__main__":
    run_script(main, __doc__)
