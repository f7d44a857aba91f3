"""The one interface every backend implements; DerainEngine validates, the backend only runs."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True)
class EngineIO:
    """What the compiled graph takes: uint8 NHWC BGR frames or float NCHW RGB; fixed or dynamic sizes."""

    input_name: str
    output_name: str
    uint8_bgr: bool                       # True: graph does the frame conversion itself
    height: int | None                    # None: any multiple of 8
    width: int | None
    max_batch: int | None                 # None: any batch size


class Backend(Protocol):
    io: EngineIO
    name: str

    @property
    def last_compute_ms(self) -> float | None:
        """Device time of the calling thread's last run() in ms, or None where the backend cannot measure it."""

    @property
    def last_split_ms(self) -> dict[str, float] | None:
        """{'h2d', 'compute', 'd2h'} ms of the last run() where the backend can time copies apart, else None."""

    def run(self, batch: np.ndarray) -> np.ndarray:
        """One batch in the graph's own input format -> the graph's output (host numpy)."""

    def close(self) -> None: ...
