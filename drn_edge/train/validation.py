"""What a training run validates on, and how: the current weights through ONNX Runtime (fast) or PyTorch.

PyTorch runs this network's thin dense convolutions far below the CPU's speed (a 360x640 drn_edge frame:
about 1.5 s eager against 0.1 s in ONNX Runtime), so a validation at 720p in torch ate much of a CPU run.
The 'onnxruntime' backend exports the current weights to an in-memory ONNX graph (float I/O, the same
exporter settings drn-export uses) and scores that; 'torch' scores the module itself.
"""
from __future__ import annotations

import copy
import io
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from drn_edge.evaluation.eval_frames import LEVEL_NAMES, clean_dir_sources, evenly_spaced, heldout_sources, pair_frames, rain_frames
from drn_edge.evaluation.fidelity import DeRain, balanced_score, evaluate, torch_derain
from drn_edge.imageio import list_images, read_rgb, to_uint8
from drn_edge.model.drn import DRN
from drn_edge.runtime.frames import DEFAULT_MAX_PIXELS, rgb_to_nchw_float
from drn_edge.runtime.onnxruntime_backend import session_options

__all__ = ["VAL_BACKENDS", "ValidationSets", "validate", "onnxruntime_derain"]

VAL_BACKENDS = ("onnxruntime", "torch")
MAX_REAL = 8  # real rainy frames looked at per validation (evenly spaced through --val-real)


class ValidationSets:
    """What a run validates on, built once: each entry is one set of the balanced score.

    Without val_road the held-out photos (shrunk to val_side) stand in for road frames at each level.
    """

    def __init__(self, cfg):
        if cfg.val_road:
            sources = [s for d in cfg.val_road for s in clean_dir_sources(d)]
            frames = rain_frames(sources, LEVEL_NAMES, size=cfg.val_road_size)
            h, w = cfg.val_road_size
            self.frames = [replace(f, group=f"road {w}x{h} {f.group}") for f in frames]
        else:
            frames = rain_frames(heldout_sources(max_side=cfg.val_side), LEVEL_NAMES)
            self.frames = [replace(f, group=f"photos {cfg.val_side}px {f.group}") for f in frames]
        for d in cfg.val_pairs:
            self.frames += pair_frames(d, group=f"pairs {Path(d).name}")
        # Real rainy frames have no clean frame: how much the model changes them is watched, never scored.
        self.real = [read_rgb(f, max_pixels=DEFAULT_MAX_PIXELS) for f in evenly_spaced(list_images(cfg.val_real), MAX_REAL)] \
            if cfg.val_real else []

    def describe(self) -> str:
        groups: dict[str, int] = {}
        for f in self.frames:
            groups[f.group] = groups.get(f.group, 0) + 1
        real = f"; real rain, logged only ({len(self.real)})" if self.real else ""
        return ", ".join(f"{g} ({n})" for g, n in groups.items()) + real


def onnxruntime_derain(model: DRN, threads: int | None = None) -> DeRain:
    """The model's current weights as an ONNX Runtime session (float NCHW I/O, dynamic size), uint8 RGB in and out."""
    import onnxruntime as ort

    snapshot = copy.deepcopy(model).float().to(memory_format=torch.contiguous_format).eval().cpu()
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(snapshot, (torch.zeros(1, 3, 64, 64),), buf, dynamo=False, opset_version=17,
                          input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "n", 2: "h", 3: "w"}, "y": {0: "n", 2: "h", 3: "w"}})
    session = ort.InferenceSession(buf.getvalue(), session_options(threads), providers=["CPUExecutionProvider"])

    def run(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        y = session.run(None, {"x": rgb_to_nchw_float(rgb)})[0][0]
        return to_uint8(np.clip(y, 0, 1).transpose(1, 2, 0)[:h, :w])

    return run


def validate(model: DRN, sets: ValidationSets, backend: str = "onnxruntime") -> dict:
    """Gain per validation set and the balanced score (drn_edge.evaluation.fidelity.balanced_score)."""
    was_training = model.training
    model.eval()
    try:
        if backend == "onnxruntime":
            derain = onnxruntime_derain(model, torch.get_num_threads())
        else:
            derain = torch_derain(model, next(model.parameters()).device)
        table = evaluate(derain, sets.frames)[0]
        real = [float(np.abs(rgb.astype(np.float32) - derain(rgb)).mean()) for rgb in sets.real]
    finally:
        model.train(was_training)
    gains = {g: row["gain_db"] for g, row in table.items()}
    return {"gains": gains, "score": balanced_score(gains),
            "psnr": {g: row["psnr"] for g, row in table.items()},
            "rainy_psnr": {g: row["rainy_psnr"] for g, row in table.items()},
            "real_change": float(np.mean(real)) if real else None}
