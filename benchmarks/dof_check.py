"""What holds the never-trained `dof` generator back: its lens blur, or the scenes beneath it?

Usage: python benchmarks/dof_check.py [CHECKPOINT ...]   (default: drn_base drn_edge; about a minute a model on one core)

Per checkpoint, the PSNR gain (dB) on drn-eval's `dof/medium` row (the held-out photos and road drives at 1280x720,
drn-eval's seeds, so the mean is the README's figure), per frame and in the mean, twice: as drawn, and with the same
drops as faint but without the lens blur (drn_edge.rain.depth_of_field's Gaussian defocus left out). If the gain
rises little without the blur, the defocused near drops are not what the model leaves; the frames that gain least
show where it holds back. Each checkpoint is exported to ONNX (FP32) and run through DerainEngine. Reads ../shared;
writes only to a temporary folder, removed at the end.
"""
from __future__ import annotations

import tempfile
from pathlib import Path
from unittest import mock

import cv2
import numpy as np
from candidate_check import ROAD, SHARED
from measure_copy import export_fp32
from script_cli import run_script

from drn_edge.errors import DataError
from drn_edge.evaluation.eval_frames import clean_dir_sources, heldout_sources, rain_frames
from drn_edge.evaluation.metrics import capped_psnr
from drn_edge.rain import depth_of_field
from drn_edge.runtime import DerainEngine


class _SharpLens:
    """depth_of_field's view of OpenCV with the defocus blur left out (the drops keep their faded brightness)."""

    def __getattr__(self, name: str):
        return getattr(cv2, name)

    @staticmethod
    def GaussianBlur(image, *args, **kwargs):  # noqa: N802 (OpenCV's name)
        return image


def gains(engine: DerainEngine, sources: list[tuple[str, np.ndarray]]) -> list[tuple[str, float]]:
    return [(f.name, capped_psnr(engine(f.rainy), f.clean) - capped_psnr(f.rainy, f.clean))
            for f in rain_frames(sources, ("medium",), (720, 1280), "dof")]


def check(checkpoint: str, sources: list[tuple[str, np.ndarray]], work: Path) -> None:
    with DerainEngine(export_fp32(checkpoint, work), backend="onnxruntime-cpu", color="rgb", threads=1, max_pixels=None) as engine:
        as_drawn = gains(engine, sources)
        with mock.patch.object(depth_of_field, "cv2", _SharpLens()):
            sharp = gains(engine, sources)
    print(f"{checkpoint}: dof/medium {np.mean([g for _, g in as_drawn]):+.2f} as drawn, "
          f"{np.mean([g for _, g in sharp]):+.2f} without the lens blur")
    for (name, g), (_, s) in zip(as_drawn, sharp):
        print(f"  {name:32s} {g:+6.2f} {s:+6.2f}")


def main(argv: list[str]) -> None:
    if not SHARED.is_dir():
        raise DataError(f"{SHARED} is missing: this script measures on the evaluation data beside the project")
    # drn-eval's held-out frames of eval_models.sh (the photos and its --road drives), read once for every model
    sources = heldout_sources() + clean_dir_sources(ROAD / "evocargo") + clean_dir_sources(ROAD / "comma2k19")
    for checkpoint in argv or ["drn_base", "drn_edge"]:
        with tempfile.TemporaryDirectory() as work:
            check(checkpoint, sources, Path(work))


if __name__ == "__main__":
    run_script(main, __doc__)
