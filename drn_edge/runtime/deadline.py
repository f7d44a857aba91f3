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

Each call carries its own :class:`CallToken` (``current_call()`` on the worker thread). A backend hooks its
native cancel to it when its run starts; a cancel that comes earlier (the limit ran out during preprocessing)
sticks, so the run is refused as it starts instead of computing uncancelled until exit overruns its wait.
"""
from __future__ import annotations

import atexit
import contextlib
import math
import queue
import threading
import time
import weakref
from collections.abc import Callable
from typing import TypeVar

from drn_edge.errors import EngineError, FrameTimeout

__all__ = ["CallToken", "Deadline", "call_scope", "check_timeout_ms", "current_call"]

T = TypeVar("T")
CLOSE_WAIT_S = 1.0  # close(): how long to wait in all for cancelled calls to end (a stuck driver call must not hang it)
EXIT_WAIT_S = 5.0   # interpreter exit: the same wait, longer (the process is ending anyway)
_LIVE: weakref.WeakSet[Deadline] = weakref.WeakSet()
_CURRENT = threading.local()  # .call: the CallToken of the call running on this thread


def check_timeout_ms(timeout_ms) -> float | None:
    """None, or a finite number of milliseconds above 0 (the one rule; EngineError otherwise)."""
    if timeout_ms is None:
        return None
    if isinstance(timeout_ms, bool) or not isinstance(timeout_ms, (int, float)) or not math.isfinite(timeout_ms) \
            or timeout_ms <= 0:
        raise EngineError(f"timeout_ms must be a finite number of milliseconds > 0 (or None), got {timeout_ms!r}")
    return float(timeout_ms)


class CallToken:
    """One call's cancel request. Hooks added after the cancel run at once, so a cancel never comes too early."""

    def __init__(self):
        self.cancelled = False
        self._hooks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def on_cancel(self, hook: Callable[[], None]) -> None:
        with self._lock:
            if not self.cancelled:
                self._hooks.append(hook)
                return
        hook()

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            hooks = list(self._hooks)
        for hook in hooks:  # again on a second cancel: a backend's cancel is idempotent
            try:
                hook()
            except Exception:  # noqa: BLE001 - cancelling is best effort; the call is abandoned either way
                pass


def current_call() -> CallToken | None:
    """The token of the time-limited call running on this thread (None outside one)."""
    return getattr(_CURRENT, "call", None)


@contextlib.contextmanager
def call_scope(token: CallToken):
    """Make `token` this thread's current call while the block runs."""
    _CURRENT.call = token
    try:
        yield token
    finally:
        _CURRENT.call = None


class _Worker:
    """One daemon thread running calls handed to it, one at a time."""

    def __init__(self):
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="drn-deadline", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while (job := self.jobs.get()) is not None:
            fn, args, box, done, token = job
            try:
                with call_scope(token):
                    box["value"] = fn(*args)
            except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
                box["error"] = exc
            finally:
                done.set()


class Deadline:
    """Run calls with a time limit; ``Deadline(None)`` runs them inline with none."""

    def __init__(self, timeout_ms: float | None):
        self.timeout_ms = check_timeout_ms(timeout_ms)
        self.abandoned = 0  # calls still running when their time ran out
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []  # one per caller thread at most, reused across frames
        self._stuck: list[tuple[_Worker, CallToken]] = []  # abandoned calls that may still be running
        _LIVE.add(self)

    def run(self, fn: Callable[..., T], *args) -> T:
        if self.timeout_ms is None:
            return fn(*args)
        with self._lock:
            worker = self._idle.pop() if self._idle else _Worker()
        box: dict = {}
        done, token = threading.Event(), CallToken()
        worker.jobs.put((fn, args, box, done, token))
        if not done.wait(self.timeout_ms / 1000.0):
            with self._lock:
                self.abandoned += 1  # the worker stays with its stuck call; later calls get a new one
                self._stuck = [s for s in self._stuck if s[0].thread.is_alive()] + [(worker, token)]
            worker.jobs.put(None)    # and it ends once that call returns
            token.cancel()
            raise FrameTimeout(f"inference took longer than timeout_ms={self.timeout_ms:g}")
        with self._lock:
            self._idle.append(worker)
        if "error" in box:
            raise box["error"]
        return box["value"]

    def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Let the idle workers end; cancel abandoned calls again and wait up to `wait_s` in all for them to end."""
        with self._lock:
            idle, self._idle = self._idle, []
            stuck = list(self._stuck)
        for worker in idle:
            worker.jobs.put(None)
        end = time.monotonic() + wait_s
        for worker, token in stuck:
            token.cancel()
            worker.thread.join(max(0.0, end - time.monotonic()))
        with self._lock:  # still running ones stay listed: interpreter exit waits for them again
            self._stuck = [s for s in self._stuck if s[0].thread.is_alive()]


@atexit.register
def _end_abandoned_calls() -> None:
    """Before the interpreter tears down: no native call may still run on a daemon thread (see the docstring)."""
    for deadline in list(_LIVE):
        deadline.close(EXIT_WAIT_S)
