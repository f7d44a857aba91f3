"""torch -> ONNX with only TensorRT-parsable ops, optional uint8 HWC BGR frame I/O, checker and parity check."""
from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from drn_edge.errors import ExportError
from drn_edge.model.drn import DRN
from drn_edge.onnx_spec import INPUT_NAME, IO_MODES, MULTIPLE, OUTPUT_NAME, TENSORRT_OPS, ExportSpec, io_description  # noqa: F401
from drn_edge.outputs import atomic_path
from drn_edge.runtime.frames import hwc_to_nchw_float


class Uint8FrameIO(nn.Module):
    """uint8 NHWC BGR in and out, so a camera runtime does no per-pixel work on the host."""

    def __init__(self, model: DRN):
        super().__init__()
        self.model = model

    def forward(self, frame_bgr: torch.Tensor) -> torch.Tensor:
        x = frame_bgr.to(torch.float32).flip(-1).permute(0, 3, 1, 2) * (1.0 / 255.0)
        y = self.model(x).clamp(0.0, 1.0) * 255.0
        return torch.round(y).to(torch.uint8).permute(0, 2, 3, 1).flip(-1)


def export_onnx(model: DRN, path: str | os.PathLike, spec: ExportSpec | None = None) -> Path:
    """Export, run onnx.checker (full) and the op allow-list, and write atomically. Returns the path."""
    spec = spec or ExportSpec()
    model = model.eval().cpu()
    h, w = (spec.height, spec.width) if spec.fixed else (64, 96)
    if spec.io == "uint8":
        net, example = Uint8FrameIO(model), torch.zeros(1, h, w, 3, dtype=torch.uint8)
        dyn = {0: "batch", 1: "height", 2: "width"}
    else:
        net, example = model, torch.zeros(1, 3, h, w)
        dyn = {0: "batch", 2: "height", 3: "width"}
    if spec.fixed:
        dyn = {0: "batch"}
    inp, out = INPUT_NAME[spec.io], OUTPUT_NAME[spec.io]
    path = Path(path)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(net, (example,), str(tmp), dynamo=False, opset_version=spec.opset,
                          input_names=[inp], output_names=[out], dynamic_axes={inp: dyn, out: dyn},
                          do_constant_folding=True)
        graph = onnx.load(str(tmp))
        if spec.fixed:  # the output has the input's fixed shape: say so in the graph (the exporter leaves it unknown)
            _declare_output_shape(graph, list(example.shape))
            onnx.save(graph, str(tmp))
        onnx.checker.check_model(graph, full_check=True)
        bad = unsupported_ops(graph)
        if bad:
            raise ExportError(f"exported graph uses ops TensorRT's ONNX parser rejects: {sorted(bad)}")
    return path


def _declare_output_shape(graph: onnx.ModelProto, shape: list[int]) -> None:
    dims = graph.graph.output[0].type.tensor_type.shape.dim
    for i, (d, v) in enumerate(zip(dims, shape)):
        if i == 0:
            d.dim_param = "batch"
        else:
            d.dim_value = int(v)


def unsupported_ops(graph: onnx.ModelProto) -> set[str]:
    return {n.op_type for n in graph.graph.node} - TENSORRT_OPS


def model_output(model: DRN, rgb: np.ndarray) -> np.ndarray:
    """FP32 PyTorch reference on one HxWx3 uint8 RGB frame (size a multiple of 8): float HxWx3 in [0, 1]-ish."""
    x = torch.from_numpy(hwc_to_nchw_float(rgb))
    with torch.no_grad():
        return model.eval()(x)[0].numpy().transpose(1, 2, 0)


@dataclass
class Parity:
    mean_abs: float
    max_abs: float
    p999_abs: float

    # Tolerances in [0, 1] units: ~3e-6 mean is usual; near-tied maxima flip a few pixels by up to ~3e-3,
    # uint8 I/O adds 1/255 rounding. Anything beyond these means the graph computes something else.
    MEAN_TOLERANCE = 1e-3
    P999_TOLERANCE = 2e-2

    @property
    def ok(self) -> bool:
        vals = (self.mean_abs, self.max_abs, self.p999_abs)
        return all(np.isfinite(vals)) and self.mean_abs <= self.MEAN_TOLERANCE and self.p999_abs <= self.P999_TOLERANCE

    def as_dict(self) -> dict:
        return asdict(self)


def check_parity(onnx_path: str | os.PathLike, model: DRN, rgb: np.ndarray) -> Parity:
    """ONNX Runtime (CPU) vs PyTorch on one real frame, compared in [0, 1] units.

    Max error can reach ~1e-3 where near-tied window maxima flip under float reordering, so the
    tests judge the mean and the 99.9th percentile.
    """
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    if inp.type == "tensor(uint8)":
        out = sess.run(None, {inp.name: np.ascontiguousarray(rgb[None, ..., ::-1])})[0][0][..., ::-1].astype(np.float32) / 255.0
        ref = np.round(np.clip(model_output(model, rgb), 0, 1) * 255.0) / 255.0
    else:
        x = hwc_to_nchw_float(rgb)
        out = sess.run(None, {inp.name: np.ascontiguousarray(x)})[0][0].transpose(1, 2, 0)
        ref = model_output(model, rgb)
    d = np.abs(out - ref)
    return Parity(float(d.mean()), float(d.max()), float(np.quantile(d, 0.999)))
