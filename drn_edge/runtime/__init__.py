"""Torch-free runtime: DerainEngine over TensorRT or ONNX Runtime. Needs numpy (+ opencv for resizing)."""
from __future__ import annotations

from drn_edge.runtime.engine import BACKENDS, DerainEngine, EngineStats, open_backend
from drn_edge.runtime.stream import StreamResult, StreamStats
from drn_edge.runtime.streaming import Stream, StreamRunner

__all__ = ["DerainEngine", "EngineStats", "BACKENDS", "open_backend", "StreamRunner", "Stream", "StreamResult",
           "StreamStats"]
