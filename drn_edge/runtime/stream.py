"""One camera stream of StreamRunner: its handle (Stream), what it delivers (StreamResult), what it counts
(StreamCounters, StreamStats), and what travels between the runner's stages (QueuedFrame, FrameOutcome). Torch-free."""
from __future__ import annotations

import itertools
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["Stream", "StreamResult", "StreamStats", "StreamCounters", "QueuedFrame", "FrameOutcome", "LATENCY_WINDOW",
           "frames_of"]

LATENCY_WINDOW = 20000  # latencies kept per stream for the percentiles (memory stays flat on long runs)


@dataclass(frozen=True)
class StreamResult:
    """One delivered frame. `derained` False: the raw frame, because of `reason` (frame_policy.RAW_REASONS)."""

    stream: str
    index: int               # the frame's position in its stream (0, 1, ...); delivered in this order
    frame: np.ndarray
    derained: bool
    reason: str | None
    capture_time: float      # time.monotonic() when the frame was submitted
    latency_ms: float        # submit -> delivery
    source: np.ndarray | None = None  # the input frame, for streams added with keep_source=True


@dataclass(frozen=True)
class StreamStats:
    """A snapshot of one stream's counters. After close(): frames_in == frames_out + dropped."""

    name: str
    frames_in: int
    frames_out: int          # delivered: derained + passed_through
    derained: int
    passed_through: int      # delivered raw: overload (policy passthrough) or engine failure (on_error passthrough)
    dropped: int             # never delivered: overload (drop-oldest), engine failure (on_error drop/stop), shutdown
    errors: int              # frames hit by an engine failure (any policy)
    timeouts: int            # of which: the batch took longer than timeout_ms
    sink_errors: int         # sink calls that raised (the frame still counts as delivered)
    in_flight: int           # accepted, not yet delivered or dropped
    fps: float               # delivered frames per second since the first frame came in
    latency_ms: dict         # min / median / p99 / max over the last LATENCY_WINDOW delivered frames
    closed: bool
    error: str | None        # why the stream stopped early (a source that raised, on_error="stop")

    def as_dict(self) -> dict:
        return dict(self.__dict__)


class StreamCounters:
    """Thread-safe counters of one stream (written by the capture, inference and delivery threads)."""

    def __init__(self, name: str):
        self.name = name
        self.lock = threading.Lock()
        self.frames_in = self.derained = self.passed_through = self.dropped = 0
        self.errors = self.timeouts = self.sink_errors = 0
        self.latencies: deque[float] = deque(maxlen=LATENCY_WINDOW)
        self.first_in: float | None = None
        self.last_out: float | None = None
        self.closed = False
        self.error: str | None = None

    def accepted(self, now: float) -> None:
        with self.lock:
            self.frames_in += 1
            if self.first_in is None:
                self.first_in = now

    def delivered(self, derained: bool, latency_ms: float, now: float) -> None:
        with self.lock:
            if derained:
                self.derained += 1
            else:
                self.passed_through += 1
            self.latencies.append(latency_ms)
            self.last_out = now

    def unfinished(self) -> int:
        """Frames accepted and not yet delivered or dropped (cheap: no percentiles)."""
        with self.lock:
            return self.frames_in - self.derained - self.passed_through - self.dropped

    def snapshot(self) -> StreamStats:
        with self.lock:
            out = self.derained + self.passed_through
            lat = np.asarray(self.latencies, dtype=np.float64)
            span = (self.last_out - self.first_in) if (self.last_out and self.first_in) else 0.0
            latency = ({"min": float(lat.min()), "median": float(np.median(lat)), "p99": float(np.percentile(lat, 99)),
                        "max": float(lat.max())} if lat.size else {})
            return StreamStats(self.name, self.frames_in, out, self.derained, self.passed_through, self.dropped,
                               self.errors, self.timeouts, self.sink_errors, self.frames_in - out - self.dropped,
                               out / span if span > 0 else 0.0, latency, self.closed, self.error)


@dataclass(frozen=True)
class QueuedFrame:
    """An accepted frame waiting in its stream's queue, then in a batch."""

    stream: Stream
    index: int               # position in its stream
    frame: np.ndarray
    capture_time: float


@dataclass(frozen=True)
class FrameOutcome:
    """What became of one accepted frame: delivered (`frame` set; `reason` None when derained) or dropped (`frame`
    None). The delivery thread puts them back in capture order."""

    stream: Stream
    index: int
    frame: np.ndarray | None = None
    capture_time: float = 0.0
    reason: str | None = None
    source: np.ndarray | None = None

    @classmethod
    def raw(cls, queued: QueuedFrame, reason: str) -> FrameOutcome:
        return cls(queued.stream, queued.index, queued.frame, queued.capture_time, reason, queued.frame)

    @classmethod
    def dropped(cls, queued: QueuedFrame) -> FrameOutcome:
        return cls(queued.stream, queued.index)


def now() -> float:
    return time.monotonic()


Sink = Callable[[StreamResult], None]


class Stream:
    """One camera's handle: submit frames from the capture loop; results go to the sink.

    The runner that made it owns `waiting`, `ended`, `stopped` and `reader`, under the runner's `lock`
    (given here, with the runner's `accept`, so the handle needs nothing else of the runner)."""

    def __init__(self, name: str, sink: Sink, policy: str, queue_size: int, keep_source: bool,
                 accept: Callable[..., bool], lock: threading.Condition):
        self.name, self.policy, self.queue_size, self.keep_source = name, policy, queue_size, keep_source
        self._sink, self.lock = sink, lock
        self._accept = weakref.WeakMethod(accept)  # the runner's; weak, so a dropped runner can be collected
        self.counters = StreamCounters(name)
        self.waiting: deque[QueuedFrame] = deque()   # accepted, not yet taken into a batch
        self._indices = itertools.count()
        self.ended = False             # no more input (source finished, close_input(), or stopped)
        self.stopped = False           # stopped by an engine failure (on_error="stop"): nothing more is delivered
        self.reader: threading.Thread | None = None  # the source thread of add_source()
        # Each stream's sink runs on its own thread, so one slow sink never stalls the other cameras.
        self._sink_items: deque[FrameOutcome] = deque()
        self._sink_cv = threading.Condition()
        self._sink_thread: threading.Thread | None = None
        self._sink_closed = False
        self._sink_limit = max(4, 2 * queue_size)
        self._sink_busy = 0  # results taken by the sink thread whose sink call has not returned yet
        self.lossless = policy == "passthrough"  # a full sink queue waits instead of dropping (files, passthrough)

    # ------------------------------------------------------------------ the sink side (runner's delivery thread)
    def hand_to_sink(self, outcome: FrameOutcome) -> None:
        """Queue one in-order result for this stream's sink thread. Full queue: a drop-oldest stream drops its
        oldest undelivered result (counted); a lossless one waits for its own sink."""
        with self._sink_cv:
            if self._sink_thread is None or not self._sink_thread.is_alive():
                self._sink_thread = threading.Thread(target=self._sink_loop, name=f"drn-stream-sink-{self.name}",
                                                     daemon=True)
                self._sink_thread.start()
            # Never wait here: this is the runner's one delivery thread, and waiting for one slow sink stalled every
            # camera. A lossless stream loses nothing: a file source is held back at its input (sink_full()); a
            # passthrough camera's results queue in memory while its sink is slower than the camera.
            self._sink_items.append(outcome)
            while not self.lossless and len(self._sink_items) > self._sink_limit:
                self._sink_items.popleft()
                with self.counters.lock:
                    self.counters.dropped += 1
            self._sink_cv.notify_all()

    def sink_full(self) -> bool:
        """The sink is behind by its queue's worth: a waiting (file) source holds its next frame back."""
        with self._sink_cv:
            return len(self._sink_items) + self._sink_busy >= self._sink_limit

    def _sink_loop(self) -> None:
        while True:
            with self._sink_cv:
                while not self._sink_items and not self._sink_closed:
                    if self.ended and self._sink_busy == 0 and self.counters.unfinished() == 0:
                        return  # an ended stream keeps no thread (60 reconnecting cameras kept 60)
                    self._sink_cv.wait(0.1)
                if not self._sink_items:
                    return
                o = self._sink_items.popleft()
                self._sink_busy += 1
                self._sink_cv.notify_all()
            done = now()
            result = StreamResult(self.name, o.index, o.frame, o.reason is None, o.reason, o.capture_time,
                                  (done - o.capture_time) * 1000.0, o.source if self.keep_source else None)
            self.counters.delivered(o.reason is None, result.latency_ms, done)
            try:
                self._sink(result)
            except BaseException as exc:  # noqa: BLE001 - a sink's SystemExit must not kill this thread
                with self.counters.lock:
                    self.counters.sink_errors += 1
                logging.getLogger("drn_edge.runtime").warning("stream %r: sink raised %s: %s", self.name,
                                                              type(exc).__name__, exc)
            finally:
                with self._sink_cv:
                    self._sink_busy -= 1
                    self._sink_cv.notify_all()

    @property
    def sink_thread(self) -> threading.Thread | None:
        """The thread that calls the sink (None before the first delivery)."""
        return self._sink_thread

    def close_sink(self, timeout: float) -> bool:
        """Let the sink thread finish what is queued; True when it has (False: the sink is stuck)."""
        with self._sink_cv:
            self._sink_closed = True
            self._sink_cv.notify_all()
            thread = self._sink_thread
        if thread is not None:
            thread.join(max(0.0, timeout))
            return not thread.is_alive()
        return True

    def next_index(self) -> int:
        """The next frame's position in this stream (called under `lock`)."""
        return next(self._indices)

    def submit(self, frame: np.ndarray, capture_time: float | None = None) -> bool:
        """Queue a frame (never blocks). False: the stream is closed. A bad frame raises ImageError/EngineError here."""
        return self.accept(frame, capture_time, wait=False)

    def accept(self, frame: np.ndarray, capture_time: float | None = None, wait: bool = False) -> bool:
        """submit(), or with wait=True (a file source) wait for room instead of applying the overload policy."""
        accept = self._accept()
        return False if accept is None else accept(self, frame, capture_time, wait)

    def close_input(self) -> None:
        """No more frames from this stream; what is queued is still derained and delivered."""
        with self.lock:
            self.ended = True
            self.lock.notify_all()

    def stats(self) -> StreamStats:
        return self.counters.snapshot()

    @property
    def done(self) -> bool:
        """Input ended, every accepted frame delivered or dropped, and the sink has returned from the last one
        (StreamRunner.wait() returned while the last sink call was still running)."""
        with self._sink_cv:
            sink_idle = not self._sink_items and self._sink_busy == 0
        return self.ended and self.counters.unfinished() == 0 and sink_idle


def frames_of(source) -> Iterable[np.ndarray]:
    read = getattr(source, "read", None)
    if callable(read) and not hasattr(source, "__iter__"):
        def gen():
            while True:
                ok, frame = read()
                if not ok:
                    return
                yield frame
        return gen()
    return iter(source)
