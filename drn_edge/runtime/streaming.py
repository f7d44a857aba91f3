"""StreamRunner: one DerainEngine serving several cameras, with bounded latency and every frame accounted for.

A camera delivers frames at its own rate whatever the derainer does; the capture loop must never
wait for inference, latency must not grow when the engine falls behind, and whatever was not
derained must be counted. So the work runs in stages, one thread each, with bounded queues:

    capture (Stream.submit, or a source thread)  -> per-stream queue of `queue_size` frames
    scheduler: when the engine can take a batch soon (one running + pipeline_depth prepared), the oldest
               frame of each waiting stream, round robin; same-size frames of several streams batched up
               to the engine's max_batch; pre-processing (padding, layout)
    inference: engine.run_graph (optionally under timeout_ms)
    delivery:  post-processing (crop, layout), then the stream's sink, in capture order

Overload (a full per-stream queue): "drop-oldest" drops the oldest waiting frame; "passthrough"
delivers it raw. submit() never blocks. Engine failure (an exception, a bad output, a batch over
timeout_ms): on_error "passthrough" delivers the batch's frames raw, "drop" drops them, "stop"
closes the streams in that batch and close() re-raises; the runner keeps serving other streams.
Every submitted frame ends as exactly one of delivered-derained, delivered-raw or dropped.

Latency bound under overload: a frame waits at most queue_size frame periods in its stream queue,
then at most (pipeline_depth + 1) batch times (the batch running and those prepared ahead) plus its
own batch. pipeline_depth=0 prepares each batch just in time (lowest latency); 1 (the default)
overlaps pre-processing with inference (more throughput where inference is fast, e.g. TensorRT).
"""
from __future__ import annotations

import logging
import math
import queue
import threading
from typing import Iterable

import numpy as np

from drn_edge.errors import EngineError, FrameTimeout, InferenceError
from drn_edge.runtime import frames as F
from drn_edge.runtime.deadline import Deadline
from drn_edge.runtime.stream_stats import (ERROR_POLICIES, OVERLOAD_POLICIES, Sink, Stream, StreamResult, StreamStats, frames_of,
                           now)

__all__ = ["StreamRunner", "Stream", "frames_of", "StreamResult", "StreamStats", "OVERLOAD_POLICIES", "ERROR_POLICIES"]
log = logging.getLogger("drn_edge.runtime")
POLL_S = 0.05


class StreamRunner:
    """Run one DerainEngine for N streams. The caller owns the engine (and closes it after the runner).

    with StreamRunner(engine, on_error="passthrough") as runner:
        cam = runner.add_stream("front", sink=show)     # then cam.submit(frame) from the capture loop
        runner.add_source("rear", cv2.VideoCapture(1), sink=record, fps=30)
    """

    def __init__(self, engine, on_error: str = "passthrough", timeout_ms: float | None = None,
                 max_batch: int | None = None, pipeline_depth: int = 1):
        if on_error not in ERROR_POLICIES:
            raise EngineError(f"on_error must be one of {ERROR_POLICIES}, got {on_error!r}")
        if timeout_ms is None:  # the engine's own limit carries over: the runner calls the graph, not the engine
            timeout_ms = getattr(engine, "timeout_ms", None)
        self._deadline = Deadline(timeout_ms)  # validates timeout_ms (the same rule as DerainEngine's)
        if max_batch is not None and (not isinstance(max_batch, int) or max_batch < 1):
            raise EngineError(f"max_batch must be a positive integer (or None: the engine's), got {max_batch!r}")
        if not isinstance(pipeline_depth, int) or isinstance(pipeline_depth, bool) or not 0 <= pipeline_depth <= 8:
            raise EngineError(f"pipeline_depth must be an integer from 0 to 8 (batches prepared ahead; more only adds "
                              f"latency and turns the overload policy off), got {pipeline_depth!r}")
        self.engine, self.on_error, self.timeout_ms = engine, on_error, timeout_ms
        self.max_batch = min(max_batch or engine.max_batch, engine.max_batch)
        self._streams: dict[str, Stream] = {}
        self._order: list[Stream] = []
        self._rr = 0
        self._cond = threading.Condition()
        self._closing = False
        self._failure: BaseException | None = None
        self._infer_q: queue.Queue = queue.Queue()
        # Batches taken from the stream queues and not yet run: the one running plus `pipeline_depth` prepared ahead.
        # Frames wait in their stream queues until then, where the overload policy keeps them fresh.
        self._batch_slots = threading.Semaphore(pipeline_depth + 1)
        self._deliver_q: queue.Queue = queue.Queue()
        self._post_slots = threading.Semaphore(pipeline_depth + 1)  # batches waiting for delivery: bounded
        self._threads = [threading.Thread(target=t, name=f"drn-stream-{t.__name__.strip('_')}", daemon=True)
                         for t in (self._schedule, self._infer, self._deliver)]
        for t in self._threads:
            t.start()

    # ------------------------------------------------------------------ streams
    def add_stream(self, name: str, sink: Sink, policy: str = "drop-oldest", queue_size: int = 2,
                   keep_source: bool = False) -> Stream:
        """A stream fed by the caller's submit(); keep_source=True also hands the input frame to the sink."""
        if policy not in OVERLOAD_POLICIES:
            raise EngineError(f"policy must be one of {OVERLOAD_POLICIES}, got {policy!r}")
        if not isinstance(queue_size, int) or queue_size < 1:
            raise EngineError(f"queue_size must be a positive integer, got {queue_size!r}")
        if not callable(sink):
            raise EngineError(f"sink must be a callable taking a StreamResult, got {type(sink).__name__}")
        with self._cond:
            if self._closing:
                raise EngineError("StreamRunner is closed")
            if name in self._streams:
                raise EngineError(f"a stream named {name!r} already exists")
            stream = Stream(self, name, sink, policy, queue_size, keep_source)
            self._streams[name] = stream
            self._order.append(stream)
        return stream

    def add_source(self, name: str, source, sink: Sink, live: bool = True, fps: float | None = None,
                   policy: str = "drop-oldest", queue_size: int = 2, keep_source: bool = False,
                   start_after: float = 0.0) -> Stream:
        """A stream fed by its own reader thread from `source`: an iterable of frames, or an object with read() ->
        (ok, frame) such as cv2.VideoCapture. live=True: frames arrive at their own pace (optionally `fps`) and the
        overload policy applies; live=False (a file): the reader waits for room, so no frame is dropped.
        start_after (s) delays the first paced frame (free-running cameras are not in phase)."""
        for label, value in (("fps", fps), ("start_after", start_after)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value < 0 or (label == "fps" and value == 0)):
                raise EngineError(f"{label} must be a finite number {'> 0' if label == 'fps' else '>= 0'} "
                                  f"(or None), got {value!r}")
        stream = self.add_stream(name, sink, policy, queue_size, keep_source)
        stream.lossless = stream.lossless or not live  # a file loses no frame, at the sink either
        stream._reader = threading.Thread(target=self._read_source, args=(stream, source, live, fps, start_after),
                                          name=f"drn-stream-source-{name}", daemon=True)
        stream._reader.start()
        return stream

    @property
    def streams(self) -> dict[str, Stream]:
        with self._cond:
            return dict(self._streams)

    def stats(self) -> dict[str, StreamStats]:
        """A snapshot per stream; safe while other threads add streams (the dict is copied under the lock)."""
        return {name: s.stats() for name, s in self.streams.items()}

    def _read_source(self, stream: Stream, source, live: bool, fps: float | None, start_after: float) -> None:
        frames: Iterable = frames_of(source)
        period = 1.0 / fps if fps else None
        next_tick = now() + start_after
        try:
            for frame in frames:
                if self._closing or stream._ended:
                    break
                if period:
                    next_tick += period
                    delay = next_tick - now()
                    if delay > 0:
                        threading.Event().wait(delay)
                    elif delay < -period:
                        next_tick = now()  # fell behind (e.g. a slow decoder): do not burst to catch up
                if not self._accept(stream, frame, None, wait=not live):
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

    def _accept(self, stream: Stream, frame, capture_time: float | None, wait: bool) -> bool:
        checked = F.check_frame(frame, None, self.engine.max_pixels)  # bad input raises in the caller's thread
        checked = np.array(checked, copy=True)  # capture loops often reuse their buffer for the next frame
        self.engine.target_size(*checked.shape[:2])  # a size the engine cannot take: EngineError, at once
        if capture_time is not None and (isinstance(capture_time, bool) or not isinstance(capture_time, (int, float))
                                         or not math.isfinite(capture_time)):
            raise EngineError(f"capture_time must be a finite time.monotonic() value (or None), got {capture_time!r}")
        t = now() if capture_time is None else capture_time
        with self._cond:
            while wait and len(stream._queue) >= stream.queue_size and not (self._closing or stream._ended):
                self._cond.wait(POLL_S)
            if self._closing or stream._ended:
                return False
            seq = next(stream._seq)
            stream.counters.accepted(t)
            if len(stream._queue) >= stream.queue_size:
                old_seq, old_frame, old_t = stream._queue.popleft()
                if stream.policy == "drop-oldest":
                    self._deliver_q.put(("drop", stream, old_seq, None))
                else:
                    self._deliver_q.put(("raw", stream, old_seq, (old_frame, old_t, "overload", old_frame)))
            stream._queue.append((seq, checked, t))
            self._cond.notify_all()
        return True

    # ------------------------------------------------------------------ stages
    def _take_batch(self) -> list[tuple[Stream, int, np.ndarray, float]]:
        """The oldest frame of each waiting stream (one per stream: a longer batch would only make every frame in it
        wait longer), round robin, same size as the first, up to max_batch."""
        if not any(s._queue for s in self._order):
            return []
        start = self._rr % len(self._order)
        ordered = [s for s in self._order[start:] + self._order[:start] if s._queue]
        self._rr += 1
        size = ordered[0]._queue[0][1].shape
        batch: list = []
        for s in ordered:
            if s._queue[0][1].shape == size and len(batch) < self.max_batch:
                seq, frame, t = s._queue.popleft()
                batch.append((s, seq, frame, t))
        return batch

    def _schedule(self) -> None:
        while True:
            while not self._batch_slots.acquire(timeout=POLL_S):
                pass
            with self._cond:
                while not any(s._queue for s in self._order) and not self._closing:
                    self._cond.wait(POLL_S)
                batch = self._take_batch()
                self._cond.notify_all()  # readers waiting for room
            if not batch:
                self._batch_slots.release()
                if self._closing:
                    break
                continue
            try:
                prepared = self.engine.graph_input([b[2] for b in batch])
            except Exception as exc:
                prepared = exc
            self._infer_q.put((batch, prepared))  # bounded by the batch slots
        self._infer_q.put(None)

    def _run_graph(self, graph_input: np.ndarray) -> np.ndarray:
        return self._deadline.run(self.engine.run_graph, graph_input)

    def _infer(self) -> None:
        while True:
            item = self._infer_q.get()
            if item is None:
                break
            batch, prepared = item
            try:
                if isinstance(prepared, BaseException):
                    raise prepared
                result = (self._run_graph(prepared[0]), prepared[1])
            except BaseException as exc:  # noqa: BLE001 - even SystemExit/KeyboardInterrupt from an engine call must
                result = exc              # not kill this thread: the batch fails by on_error, every frame counted
            self._batch_slots.release()
            while not self._post_slots.acquire(timeout=POLL_S):
                pass
            self._deliver_q.put(("batch", batch, result, None))
        self._deliver_q.put(None)

    def _deliver(self) -> None:
        pending: dict[Stream, dict[int, tuple]] = {}
        next_index: dict[Stream, int] = {}
        while True:
            item = self._deliver_q.get()
            if item is None:
                break
            kind = item[0]
            if kind == "batch":
                _, batch, result, _ = item
                try:
                    outcomes = self._batch_outcomes(batch, result)
                finally:
                    self._post_slots.release()
            elif kind == "drop":
                outcomes = [(item[1], item[2], None)]
            else:
                outcomes = [(item[1], item[2], item[3])]
            for stream, seq, outcome in outcomes:
                pending.setdefault(stream, {})[seq] = outcome
                self._flush(stream, pending[stream], next_index)
        for stream, waiting in pending.items():  # only at shutdown: nothing may be left unaccounted
            for seq in sorted(waiting):
                next_index[stream] = seq
                self._flush(stream, waiting, next_index)

    def _batch_outcomes(self, batch, result) -> list[tuple[Stream, int, tuple | None]]:
        """(stream, index, (output, capture time, raw reason, input) or None for dropped) for each frame of a batch.
        Frames of a stream already stopped by an earlier failure are dropped, whatever happened to the batch."""
        if not isinstance(result, BaseException):
            try:
                outs = self.engine.finish(*result)
                return [(s, seq, None if s._stopped else (o, t, None, f)) for (s, seq, f, t), o in zip(batch, outs)]
            except Exception as exc:
                result = exc
        exc = result if isinstance(result, InferenceError) else InferenceError(f"inference failed: {type(result).__name__}: {result}")
        reason = "timeout" if isinstance(exc, FrameTimeout) else "error"
        log.warning("StreamRunner: a batch of %d frame(s) failed (%s); on_error=%s", len(batch), exc, self.on_error)
        out = []
        for s, seq, frame, t in batch:
            if s._stopped:
                out.append((s, seq, None))
                continue
            with s.counters.lock:
                s.counters.errors += 1
                s.counters.timeouts += reason == "timeout"
            if self.on_error == "passthrough":
                out.append((s, seq, (frame, t, reason, frame)))
            else:
                out.append((s, seq, None))
                if self.on_error == "stop":
                    out += self._stop_stream(s, exc)
        return out

    def _stop_stream(self, stream: Stream, exc: BaseException) -> list[tuple[Stream, int, None]]:
        """End a stream after an engine failure; its waiting frames will never run and are returned as dropped."""
        with self._cond:
            stream._ended = stream._stopped = True
            if self._failure is None:
                self._failure = exc
            with stream.counters.lock:
                stream.counters.error = stream.counters.error or f"engine failed: {exc}"
            dropped = [(stream, seq, None) for seq, _, _ in stream._queue]
            stream._queue.clear()
            self._cond.notify_all()
        return dropped

    def _flush(self, stream: Stream, waiting: dict[int, tuple | None], next_index: dict[Stream, int]) -> None:
        """Deliver (or count as dropped) this stream's frames in order, as far as they are known."""
        i = next_index.get(stream, 0)
        while i in waiting:
            outcome = waiting.pop(i)
            i += 1
            if outcome is None:
                with stream.counters.lock:
                    stream.counters.dropped += 1
                continue
            frame, t, reason, source = outcome
            stream.hand_to_sink(i - 1, frame, reason, t, source)
        next_index[stream] = i

    # ------------------------------------------------------------------ shutdown
    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every stream's input has ended and all its frames are delivered or dropped."""
        deadline = None if timeout is None else now() + timeout
        while not all(s.done for s in self._order):
            if deadline is not None and now() > deadline:
                return False
            threading.Event().wait(POLL_S)
        return True

    def close(self, drain: bool = True, timeout: float = 30.0) -> dict[str, StreamStats]:
        """Stop: sources end, queued frames are derained (drain=True) or counted dropped, every thread is joined.

        Returns the final stats; raises the engine failure if on_error="stop" stopped a stream."""
        with self._cond:
            already = self._closing
            for s in self._order:
                s._ended = True
                if not drain:
                    while s._queue:
                        seq, _, _ = s._queue.popleft()
                        self._deliver_q.put(("drop", s, seq, None))
            self._closing = True
            self._cond.notify_all()
        if not already:
            deadline = now() + timeout
            for s in self._order:
                if s._reader is not None:
                    s._reader.join(max(0.0, deadline - now()))
            for t in self._threads:
                t.join(max(0.0, deadline - now()))
            self._deadline.close()
            stuck_sinks = [s.name for s in self._order if not s.close_sink(deadline - now())]
            stuck = [t.name for t in self._threads + [s._reader for s in self._order if s._reader] if t.is_alive()]
            for s in self._order:
                with s.counters.lock:
                    s.counters.closed = True
            if stuck_sinks:
                raise EngineError(f"StreamRunner did not stop within {timeout:g} s: the sink of stream(s) "
                                  f"{', '.join(stuck_sinks)} is stuck in a call (the engine is not)")
            readers = [s._reader.name for s in self._order if s._reader and s._reader.is_alive()]
            if readers and not [t for t in self._threads if t.is_alive()]:
                raise EngineError(f"StreamRunner did not stop within {timeout:g} s: the source of {', '.join(readers)} "
                                  "is stuck in a read (the engine is not)")
            if stuck:
                raise EngineError(f"StreamRunner did not stop within {timeout:g} s (still running: {', '.join(stuck)}); "
                                  "the engine is stuck in a call")
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise InferenceError(f"a stream was stopped by an engine failure (on_error='stop'): {failure}") from failure
        return self.stats()

    def __enter__(self) -> "StreamRunner":
        return self

    def __exit__(self, exc_type, *rest) -> None:
        self.close(drain=exc_type is None)
