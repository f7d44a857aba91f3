"""The one per-frame time limit, used by DerainEngine and StreamRunner.

A call runs on a daemon worker thread and the caller waits at most `timeout_ms`. Workers are kept
and reused (no thread is started per frame); a call that overruns is abandoned with its worker, not
joined: a stuck driver call must not keep the process from exiting nor make ``close()`` hang (a
ThreadPoolExecutor's workers are joined at interpreter exit, so one stuck call used to keep the
process alive forever). Abandoned calls are counted.

An abandoned call is also *cancelled* where the backend can (ONNX Runtime: ``RunOptions.terminate``), and
``close()`` and interpreter exit wait a bounded time for abandoned calls to end: a native call still running
on a daemon thread when Python shuts down aborted the process (``terminate called without an active
exception``, exit 134) after an ordinary ``timeout_ms`` passthrough.
"""
from __future__ import annotations

import atexit
import math
import queue
import threading
import time
import weakref
from collections.abc import Callable
from typing import TypeVar

from drn_edge.errors import EngineError, FrameTimeout

__all__ = ["Deadline", "check_timeout_ms"]

T = TypeVar("T")
CLOSE_WAIT_S = 1.0  # close(): how long to wait in all for cancelled calls to end (a stuck driver call must not hang it)
EXIT_WAIT_S = 5.0   # interpreter exit: the same wait, longer (the process is ending anyway)
_LIVE: weakref.WeakSet[Deadline] = weakref.WeakSet()


def check_timeout_ms(timeout_ms) -> float | None:
    """None, or a finite number of milliseconds above 0 (the one rule; EngineError otherwise)."""
    if timeout_ms is None:
        return None
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, (int, float)) or not math.isfinite(timeout_ms) \
            or timeout_ms <= 0:
        raise EngineError(f"timeout_ms must be a finite number of milliseconds > 0 (or None), got {timeout_ms!r}")
    return float(timeout_ms)


class _Worker:
    """One daemon thread running calls handed to it, one at a time."""

    def __init__(self):
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="drn-deadline", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while (job := self.jobs.get()) is not None:
            fn, args, box, done = job
            try:
                box["value"] = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                box["error"] = exc
            finally:
                done.set()


class Deadline:
    """Run calls with a time limit; ``Deadline(None)`` runs them inline with none."""

    def __init__(self, timeout_ms: float | None, cancel: Callable[[int], None] | None = None):
        self.timeout_ms = check_timeout_ms(timeout_ms)
        self.abandoned = 0  # calls still running when their time ran out
        # cancel(thread_ident): end the call running on that thread, where the backend can (set by the engine)
        self.cancel = cancel
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []  # one per caller thread at most, reused across frames
        self._stuck: list[_Worker] = []  # abandoned workers whose call may still be running
        _LIVE.add(self)

    def run(self, fn: Callable[..., T], *args) -> T:
        if self.timeout_ms is None:
            return fn(*args)
        with self._lock:
            worker = self._idle.pop() if self._idle else _Worker()
        box: dict = {}
        done = threading.Event()
        worker.jobs.put((fn, args, box, done))
        if not done.wait(self.timeout_ms / 1000.0):
            with self._lock:
                self.abandoned += 1  # the worker stays with its stuck call; later calls get a new one
                self._stuck = [w for w in self._stuck if w.thread.is_alive()] + [worker]
            worker.jobs.put(None)    # and it ends once that call returns
            self._cancel(worker)
            raise FrameTimeout(f"inference took longer than timeout_ms={self.timeout_ms:g}")
        with self._lock:
            self._idle.append(worker)
        if "error" in box:
            raise box["error"]
        return box["value"]

    def _cancel(self, worker: _Worker) -> None:
        if self.cancel is not None and worker.thread.ident is not None:
            try:
                self.cancel(worker.thread.ident)
            except Exception:  # noqa: BLE001 - cancelling is best effort; the call is abandoned either way
                pass

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Let the idle workers end; cancel abandoned calls again and wait up to `wait_s` in all for them to end."""
        with self._lock:
            idle, self._idle = self._idle, []
            stuck = list(self._stuck)
        for worker in idle:
            worker.jobs.put(None)
        end = time.monotonic() + wait_s
        for worker in stuck:
            self._cancel(worker)
            worker.thread.join(max(0.0, end - time.monotonic()))
        with self._lock:  # still running ones stay listed: interpreter exit waits for them again
            self._stuck = [w for w in self._stuck if w.thread.is_alive()]


@atexit.register
def _end_abandoned_calls() -> None:
    """Before the interpreter tears down: no native call may still run on a daemon thread (see the docstring)."""
    for deadline in list(_LIVE):
        deadline.close(EXIT_WAIT_S)
