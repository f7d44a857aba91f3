"""Synthetic rain: the evaluation presets (preset), the training family (family), rain over clips (video),
bright non-rain structures for training (scene_negatives). Lazy, so `drn_edge.rain.synthesize` loads one module."""
from __future__ import annotations

import importlib

LEVEL_NAMES = ("low", "medium", "high")  # the named rain levels, lightest first: every level table is keyed by them

_PUBLIC = {  # name -> module that owns it
    "synthesize": "preset", "rain_layer": "preset", "apply_rain": "preset", "RainLevel": "preset",
    "RainClip": "video", "rain_clip": "video",
}


def __getattr__(name: str):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["LEVEL_NAMES", *sorted(_PUBLIC)]
