"""The training validation's balanced score for checkpoints, as benchmarks/train_cpu.sh's runs log it.

Usage: python benchmarks/score_checkpoints.py CHECKPOINT [CHECKPOINT ...]   (about 20 s each on one core)

The same sets as the runs (`--val-road` evocargo and comma2k19 at 1280x720 under low/medium/high rain, `--val-pairs`
Rain100L and Rain200H, `--val-real` nturain_rb2, logged only), through ONNX Runtime; so a checkpoint made after a run
(e.g. by benchmarks/average_checkpoints.py) is compared on the run's own terms. Reads ../shared; writes nothing.
"""
from __future__ import annotations

import sys
from pathlib import Path

import torch
from script_cli import run_script

from drn_edge.model.checkpoint import load_model
from drn_edge.train.config import TrainConfig
from drn_edge.train.validation import ValidationSets, validate

SHARED = Path(__file__).resolve().parents[2] / "shared"
ROAD = SHARED / "data" / "road" / "permissive"


def main(argv: list[str]) -> None:
    if not argv:
        sys.exit(__doc__)
    torch.set_num_threads(1)
    cfg = TrainConfig(val_road=(str(ROAD / "evocargo"), str(ROAD / "comma2k19")),
                      val_pairs=(str(SHARED / "eval" / "rain100l"), str(SHARED / "eval" / "rain200h")),
                      val_real=str(SHARED / "data" / "road" / "rainy_real" / "nturain_rb2"))
    sets = ValidationSets(cfg)
    for path in argv:
        val = validate(load_model(path).eval(), sets)
        gains = "  ".join(f"{k} {v:+.2f}" for k, v in val["gains"].items())
        real = val.get("real_change")
        print(f"{path}: score {val['score']:+.2f} dB  {gains}" + ("" if real is None else f"  real rain {real:.2f}"),
              flush=True)


if __name__ == "__main__":
    run_script(main, __doc__)
