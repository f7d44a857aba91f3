"""The one table of artifact names: what drn-export writes and where drn-bench, Triton and the docs look for it."""
from __future__ import annotations

from pathlib import Path

__all__ = ["PRECISIONS", "onnx_name", "plan_name", "PRUNED_CHECKPOINT", "SHIPPED_CHECKPOINT", "SHIPPED_EDGE_CHECKPOINT",
           "artifact_path"]

PRECISIONS = ("fp32", "fp16", "int8")
_ONNX = {"fp32": "drn.onnx", "fp16": "drn.fp16.onnx", "int8": "drn.int8.onnx"}
PRUNED_CHECKPOINT = "drn.pruned.safetensors"
SHIPPED_CHECKPOINT = Path(__file__).parent / "weights" / "drn_base.safetensors"
SHIPPED_EDGE_CHECKPOINT = Path(__file__).parent / "weights" / "drn_edge.safetensors"


def _check(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


def onnx_name(precision: str) -> str:
    return _ONNX[_check(precision)]


def plan_name(precision: str) -> str:
    return f"drn.{_check(precision)}.plan"


def artifact_path(folder: str | Path, precision: str, kind: str = "onnx") -> Path:
    """FOLDER/<name> for an ONNX or plan artifact of one precision."""
    return Path(folder) / (onnx_name(precision) if kind == "onnx" else plan_name(precision))
