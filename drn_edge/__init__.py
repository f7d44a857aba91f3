"""drn-edge: train, prune, export, compile and run a deraining network (DRN) on edge GPUs."""
from __future__ import annotations

__version__ = "0.1.0"


def load_model(path=None):
    """The shipped trained DRN (path=None) or the one in another drn-edge checkpoint, in eval mode."""
    from .checkpoint import load_model as _load

    return _load(path)


__all__ = ["load_model", "__version__"]
