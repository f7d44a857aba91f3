"""drn-edge: train, prune, export, compile and run a deraining network (DRN) on edge GPUs.

Public API: drn_edge.load_model(), drn_edge.rain.preset.synthesize(), drn_edge.evaluation.metrics.psnr/ssim/uqi,
drn_edge.runtime.DerainEngine. Submodules load on first use, so `import drn_edge` stays light
(and torch-free until a model is asked for).
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"
_SUBMODULES = {"artifacts", "bench", "checkpoint", "detection", "errors", "evaluation", "export", "imageio", "metrics",
               "model", "onnx_spec", "outputs", "photos", "rain", "runtime", "sidecar", "train"}


def load_model(path=None):
    """The shipped trained DRN (path=None) or the one in another drn-edge checkpoint, in eval mode."""
    # lazy: pulls in torch, which importing this module does not
    from drn_edge.model.checkpoint import load_model as _load

    return _load(path)


def __getattr__(name: str):
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'drn_edge' has no attribute {name!r}")


__all__ = ["load_model", "__version__", *sorted(_SUBMODULES)]
