"""The one interface every backend implements; DerainEngine validates, the backend only runs."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from drn_edge.onnx_spec import IO_DTYPE, io_shape


@dataclass(frozen=True)
class EngineIO:
    """What the compiled graph takes: uint8 NHWC BGR frames or float NCHW RGB; fixed or dynamic sizes."""

    input_name: str
    output_name: str
    uint8_bgr: bool                       # True: graph does the frame conversion itself
    height: int | None                    # None: any multiple of 8
    width: int | None
    max_batch: int | None                 # None: any batch size

    @functools.cached_property
    def mode(self) -> str:
        """'uint8' or 'float': the onnx_spec I/O mode, whose layout rule is onnx_spec.io_shape."""
        return "uint8" if self.uint8_bgr else "float"

    @functools.cached_property
    def dtype(self) -> np.dtype:  # read per frame (output check): computed once
        return np.dtype(IO_DTYPE[self.mode])

    def grey_batch(self, n: int, h: int, w: int) -> np.ndarray:
        """A mid-grey graph input of n frames (the probe and timing frames)."""
        return np.full(io_shape(self.mode, n, h, w), 128 if self.uint8_bgr else 0.5, self.dtype)


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
