"""The one per-frame time limit, used by DerainEngine and StreamRunner.

A call runs on a daemon thread and the caller waits at most `timeout_ms`. A call that overruns is
abandoned, not joined: a stuck driver call must not keep the process from exiting nor make
``close()`` hang (a ThreadPoolExecutor's workers are joined at interpreter exit, so one stuck call
used to keep the process alive forever). Abandoned calls are counted.
"""
from __future__ import annotations

import math
import threading
from typing import Callable, TypeVar

from ..errors import EngineError, FrameTimeout

__all__ = ["Deadline", "check_timeout_ms"]

T = TypeVar("T")


def check_timeout_ms(timeout_ms) -> float | None:
    """None, or a finite number of milliseconds above 0 (the one rule; EngineError otherwise)."""
    if timeout_ms is None:
        return None
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, (int, float)) or not math.isfinite(timeout_ms) \
            or timeout_ms <= 0:
        raise EngineError(f"timeout_ms must be a finite number of milliseconds > 0 (or None), got {timeout_ms!r}")
    return float(timeout_ms)


class Deadline:
    """Run calls with a time limit; ``Deadline(None)`` runs them inline with none."""

    def __init__(self, timeout_ms: float | None):
        self.timeout_ms = check_timeout_ms(timeout_ms)
        self.abandoned = 0  # calls still running when their time ran out
        self._lock = threading.Lock()

    def run(self, fn: Callable[..., T], *args) -> T:
        if self.timeout_ms is None:
            return fn(*args)
        box: dict = {}
        done = threading.Event()

        def work():
            try:
                box["value"] = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                box["error"] = exc
            finally:
                done.set()

        threading.Thread(target=work, name="drn-deadline", daemon=True).start()
        if not done.wait(self.timeout_ms / 1000.0):
            with self._lock:
                self.abandoned += 1
            raise FrameTimeout(f"inference took longer than timeout_ms={self.timeout_ms:g}")
        if "error" in box:
            raise box["error"]
        return box["value"]
