"""Every frame of a clean folder, not 8: how far each checkpoint moves them (drn-eval's clean table samples 8).

Usage: python benchmarks/clean_folder.py FOLDER CHECKPOINT [CHECKPOINT ...]   (drn_base / drn_edge name the shipped
ones; about a minute per checkpoint for CamVid's 146 frames on one core)

Each CHECKPOINT is exported to ONNX (FP32, `drn-export --no-fidelity --backend onnx`) and run through DerainEngine on
every image of FOLDER at its own size. Prints, per checkpoint, the PSNR of output vs input over the frames: mean,
median, 5th percentile and worst (with the worst frame's name), and how many frames fall below 35 and 40 dB (the
clean-frame target's worst and mean). Reads FOLDER; writes only to a temporary folder, removed at the end.
"""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from measure_copy import export_fp32
from script_cli import run_script

from drn_edge.evaluation.eval_frames import clean_dir_sources
from drn_edge.evaluation.metrics import capped_psnr
from drn_edge.model.checkpoint import load_model
from drn_edge.runtime import DerainEngine


def frame_psnrs(checkpoint: str, frames: list[tuple[str, np.ndarray]], work: Path) -> dict[str, float]:
    """PSNR of output vs input per frame, through the checkpoint's exported FP32 graph."""
    with DerainEngine(export_fp32(checkpoint, work), backend="onnxruntime-cpu", color="rgb", threads=1, max_pixels=None) as engine:
        return {name: capped_psnr(engine(rgb), rgb) for name, rgb in frames}


def summary(label: str, psnrs: dict[str, float]) -> str:
    values = np.array(list(psnrs.values()))
    worst = min(psnrs, key=psnrs.get)
    return (f"{label}: {len(values)} frames, mean {values.mean():.2f}, median {np.median(values):.2f}, "
            f"5th percentile {np.percentile(values, 5):.2f}, worst {values.min():.2f} ({worst}); "
            f"below 35 dB {int((values < 35).sum())}, below 40 dB {int((values < 40).sum())}")


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit(__doc__)
    folder, checkpoints = argv[0], argv[1:]
    for checkpoint in checkpoints:  # a missing or foreign checkpoint fails here, in one line, before any work
        load_model(checkpoint)
    frames = clean_dir_sources(folder)
    for checkpoint in checkpoints:
        with tempfile.TemporaryDirectory() as work:
            print(summary(checkpoint, frame_psnrs(checkpoint, frames, Path(work))), flush=True)


if __name__ == "__main__":
    run_script(main, __doc__)
