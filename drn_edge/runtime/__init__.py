"""Torch-free runtime: DerainEngine over TensorRT or ONNX Runtime. Needs numpy (+ opencv for resizing).

Lazy, so importing `drn_edge.runtime.frames` (the one layout module other packages may import) loads nothing
else, and `from drn_edge.runtime import DerainEngine` loads the engine, not the stream runner.
"""
from __future__ import annotations

import importlib

_PUBLIC = {  # name -> module that owns it
    "DerainEngine": "engine", "EngineStats": "engine", "BACKENDS": "engine", "open_backend": "engine",
    "StreamRunner": "streaming", "Stream": "streaming", "StreamResult": "stream", "StreamStats": "stream",
}


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_PUBLIC)
