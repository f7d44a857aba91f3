"""What an exported DRN graph looks like (names, I/O modes, sizes, the TensorRT op list), without torch.

The plan builder, the bench and the runtime read graphs; only export.torch_to_onnx (which writes them) needs torch.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from drn_edge.checks import MAX_SIDE
from drn_edge.errors import ExportError

MULTIPLE = 8  # three 2x2 pools: frame height and width must be multiples of 8

# Ops TensorRT's ONNX parser (10.x) supports that this graph may use. MaxUnpool, MaxPool with an
# indices output and ScatterND are deliberately absent: the parser rejects them.
TENSORRT_OPS = frozenset({
    "Add", "Cast", "Clip", "Concat", "Constant", "ConstantOfShape", "Conv", "DequantizeLinear", "Div", "Equal",
    "Expand", "Gather", "Identity", "MatMul", "Mul", "QuantizeLinear", "ReduceMax", "Relu", "Reshape", "Round",
    "Shape", "Slice", "Squeeze", "Sub", "Transpose", "Unsqueeze",
})
IO_MODES = ("float", "uint8")
IO_DTYPE = {"float": "float32", "uint8": "uint8"}


def io_shape(io: str, n: int, h: int, w: int) -> tuple[int, int, int, int]:
    """The one layout rule: uint8 I/O is NHWC BGR frames (the graph converts); float I/O is NCHW RGB in [0, 1]."""
    return (n, h, w, 3) if io == "uint8" else (n, 3, h, w)

INPUT_NAME = {"float": "rainy", "uint8": "frame_bgr"}
OUTPUT_NAME = {"float": "derained", "uint8": "derained_bgr"}

MIN_OPSET, MAX_OPSET = 17, 20


@dataclass(frozen=True)
class ExportSpec:
    """What the ONNX graph looks like: fixed or dynamic HxW, frame I/O, opset."""

    height: int | None = None
    width: int | None = None
    io: str = "float"
    opset: int = 17

    def __post_init__(self) -> None:
        if (self.height is None) != (self.width is None):
            raise ExportError("give --size HxW for a fixed-size export, or no size for a dynamic one")
        for name, v in (("height", self.height), ("width", self.width)):
            if v is not None and (v < MULTIPLE or v % MULTIPLE):
                hint = f"{max(MULTIPLE, v + (-v) % MULTIPLE)}"
                raise ExportError(f"--size: the {name} must be a positive multiple of {MULTIPLE} (three 2x2 pools), got "
                                  f"{v}; use {hint} and let the runtime pad frames")
            if v is not None and v > MAX_SIDE:
                raise ExportError(f"--size: the {name} {v} is above {MAX_SIDE} px; export at the camera's size")
        if self.io not in IO_MODES:
            raise ExportError(f"io must be one of {IO_MODES}, got {self.io!r}")
        if not MIN_OPSET <= self.opset <= MAX_OPSET:
            raise ExportError(f"--opset must be between {MIN_OPSET} and {MAX_OPSET} (what the exporter writes and "
                              f"TensorRT 10.x parses), got {self.opset}")

    @property
    def fixed(self) -> bool:
        return self.height is not None


def io_description(path: str | os.PathLike) -> dict:
    """Names, dtypes and shapes (None for dynamic) of the graph's inputs and outputs."""
    import onnx

    g = onnx.load(str(path), load_external_data=False)

    def desc(v):
        t = v.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else None for d in t.shape.dim]
        return {"name": v.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(t.elem_type).name, "shape": dims}

    return {"inputs": [desc(v) for v in g.graph.input], "outputs": [desc(v) for v in g.graph.output]}


def graph_precision(path: str | os.PathLike) -> str:
    """What an ONNX file computes in, read from the graph itself: 'int8' (Q/DQ nodes), 'fp16' (FP16 weights), else 'fp32'.

    A strongly typed TensorRT build (11.x) takes its precision from exactly this, whatever was asked."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    if any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node):
        return "int8"
    if any(t.data_type == onnx.TensorProto.FLOAT16 for t in model.graph.initializer):
        return "fp16"
    return "fp32"
