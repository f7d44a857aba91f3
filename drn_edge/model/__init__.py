"""The DRN (drn), its checkpoints (checkpoint) and structured pruning (prune). Lazy: importing the
package loads no torch; `from drn_edge.model import DRN` loads drn_edge.model.drn."""
from __future__ import annotations

import importlib

_PUBLIC = {
    "DRN": "drn", "DRNConfig": "drn", "BlockConfig": "drn", "drn_base": "drn", "drn_small": "drn", "drn_tiny": "drn",
    "count_macs": "drn", "count_params": "drn",
    "save_checkpoint": "checkpoint", "load_checkpoint": "checkpoint", "load_model": "checkpoint",
}


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = sorted(_PUBLIC)
