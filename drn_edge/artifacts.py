"""The one table of artifact names: what drn-export writes and where drn-bench, Triton and the docs look for it."""
from __future__ import annotations

from pathlib import Path

__all__ = ["PRECISIONS", "onnx_name", "plan_name", "PRUNED_CHECKPOINT", "SHIPPED_CHECKPOINT", "SHIPPED_EDGE_CHECKPOINT",
           "artifact_path", "resolve_checkpoint", "SHIPPED_MODELS"]

PRECISIONS = ("fp32", "fp16", "int8")
_ONNX = {"fp32": "drn.onnx", "fp16": "drn.fp16.onnx", "int8": "drn.int8.onnx"}
PRUNED_CHECKPOINT = "drn.pruned.safetensors"
SHIPPED_CHECKPOINT = Path(__file__).parent / "weights" / "drn_base.safetensors"
SHIPPED_EDGE_CHECKPOINT = Path(__file__).parent / "weights" / "drn_edge.safetensors"
# Names that mean a shipped checkpoint wherever a checkpoint path is taken (--checkpoint drn_edge).
SHIPPED_MODELS = {"drn_base": SHIPPED_CHECKPOINT, "drn_edge": SHIPPED_EDGE_CHECKPOINT}


def resolve_checkpoint(path_or_name) -> Path:
    """None or 'drn_base': the shipped model; 'drn_edge': the shipped edge variant; anything else: a path."""
    if path_or_name is None:
        return SHIPPED_CHECKPOINT
    return SHIPPED_MODELS.get(str(path_or_name), Path(path_or_name))


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
