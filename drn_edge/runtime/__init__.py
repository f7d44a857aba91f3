"""Torch-free runtime: DerainEngine over TensorRT or ONNX Runtime. Needs numpy (+ opencv for resizing)."""
from __future__ import annotations

from .engine import BACKENDS, DerainEngine, EngineStats, open_backend

__all__ = ["DerainEngine", "EngineStats", "BACKENDS", "open_backend"]
