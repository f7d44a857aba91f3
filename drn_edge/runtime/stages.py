"""The threads behind StreamRunner and what they pass: each waits for work holding no reference to the runner,
then takes it weakly for one step, so a runner dropped without close() is collected and its threads end."""
from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable
from dataclasses import dataclass

from drn_edge.runtime.deadline import Deadline
from drn_edge.runtime.stream import QueuedFrame, Stream, frames_of, now

__all__ = ["POLL_S", "IDLE", "BatchDone", "stage_loop", "next_item", "wait_for_work", "read_source", "abandoned"]
log = logging.getLogger("drn_edge.runtime")
POLL_S = 0.05


@dataclass(frozen=True)
class BatchDone:
    """A batch the inference thread finished: the graph's output and the engine's meta, or the exception."""

    batch: list[QueuedFrame]
    result: tuple | BaseException


def read_source(runner_ref, stream: Stream, source, live: bool, fps: float | None, start_after: float) -> None:
    """A source thread: frames from `source` into the stream, paced at `fps`; holds the runner only per frame."""
    frames: Iterable = frames_of(source)
    period = 1.0 / fps if fps else None
    next_tick = now() + start_after
    try:
        for frame in frames:
            runner = runner_ref()
            if runner is None or runner.closing or stream.ended:
                break
            del runner
            if period:
                next_tick += period
                delay = next_tick - now()
                if delay > 0:
                    threading.Event().wait(delay)
                elif delay < -period:
                    next_tick = now()  # fell behind (e.g. a slow decoder): do not burst to catch up
            if not stream.accept(frame, wait=not live):
                break
    except Exception as exc:  # a camera that fails ends its own stream only
        with stream.counters.lock:
            stream.counters.error = f"source failed: {type(exc).__name__}: {exc}"
        log.warning("stream %r: source failed (%s: %s); the stream is closed, others continue",
                    stream.name, type(exc).__name__, exc)
    finally:
        stream.close_input()
        release = getattr(source, "release", None)
        if callable(release):
            release()


def stage_loop(runner_ref, wait, step) -> None:
    """One stage thread: wait for work (holding no reference to the runner), then run the runner's step on it;
    until the step says stop, or the runner is gone."""
    while True:
        item = wait()
        runner = runner_ref()
        if runner is None:
            return
        more = step(runner, item)
        del runner
        if not more:
            return


IDLE = object()  # nothing arrived within POLL_S


def next_item(q: queue.Queue):
    try:
        return q.get(timeout=POLL_S)
    except queue.Empty:
        return IDLE


def wait_for_work(slots: threading.Semaphore, cond: threading.Condition, streams: list[Stream],
                   closing: threading.Event) -> bool:
    """A batch slot, then a frame waiting in some stream (or closing); False: no slot yet."""
    if not slots.acquire(timeout=POLL_S):
        return False
    with cond:
        if not any(s.waiting for s in streams) and not closing.is_set():
            cond.wait(POLL_S)
    return True


def abandoned(streams: list[Stream], deadline: Deadline) -> None:
    """A runner collected without close(): let its sink threads and deadline workers end too."""
    for s in streams:
        s.close_sink(0.0)
    deadline.close()
    if streams:
        log.warning("StreamRunner was dropped without close(): its threads end; frames still in flight are not delivered")
