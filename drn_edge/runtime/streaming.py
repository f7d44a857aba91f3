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

import functools
import logging
import math
import queue
import threading
import weakref

import numpy as np

from drn_edge.errors import EngineError, FrameTimeout, InferenceError
from drn_edge.runtime import frames as F
from drn_edge.runtime.deadline import Deadline
from drn_edge.runtime.engine import GraphOutput
from drn_edge.runtime.frame_policy import OVERLOAD_POLICIES, RUNNER_ON_ERROR, as_inference_error, check_choice
from drn_edge.runtime.stages import IDLE, POLL_S, BatchDone, abandoned, next_item, read_source, stage_loop, wait_for_work
from drn_edge.runtime.stream import FrameOutcome, QueuedFrame, Sink, Stream, StreamResult, StreamStats, frames_of, now

__all__ = ["StreamRunner", "Stream", "frames_of", "StreamResult", "StreamStats"]
log = logging.getLogger("drn_edge.runtime")


class StreamRunner:
    """Run one DerainEngine for N streams. The caller owns the engine (and closes it after the runner).

    with StreamRunner(engine, on_error="passthrough") as runner:
        cam = runner.add_stream("front", sink=show)     # then cam.submit(frame) from the capture loop
        runner.add_source("rear", cv2.VideoCapture(1), sink=record, fps=30)
    """

    def __init__(self, engine, on_error: str = "passthrough", timeout_ms: float | None = None,
                 max_batch: int | None = None, pipeline_depth: int = 1):
        check_choice(on_error, RUNNER_ON_ERROR, "on_error")
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
        self._closing = threading.Event()
        self._joined = False  # every thread joined by a close() from outside the runner
        self._failure: BaseException | None = None
        self._infer_q: queue.Queue = queue.Queue()
        # Batches taken from the stream queues and not yet run: the one running plus `pipeline_depth` prepared ahead.
        # Frames wait in their stream queues until then, where the overload policy keeps them fresh.
        self._batch_slots = threading.Semaphore(pipeline_depth + 1)
        self._deliver_q: queue.Queue = queue.Queue()
        self._post_slots = threading.Semaphore(pipeline_depth + 1)  # batches waiting for delivery: bounded
        self._pending: dict[Stream, dict[int, FrameOutcome]] = {}  # delivery: outcomes waiting for earlier frames
        self._next_index: dict[Stream, int] = {}
        # The stage threads hold the runner weakly (one step at a time), so a runner dropped without close() is
        # collected and its threads end instead of running forever.
        me = weakref.ref(self)
        stages = (("schedule", functools.partial(wait_for_work, self._batch_slots, self._cond, self._order,
                                                  self._closing), StreamRunner._schedule_step),
                  ("infer", functools.partial(next_item, self._infer_q), StreamRunner._infer_step),
                  ("deliver", functools.partial(next_item, self._deliver_q), StreamRunner._deliver_step))
        self._threads = [threading.Thread(target=stage_loop, args=(me, wait, step), name=f"drn-stream-{name}",
                                          daemon=True) for name, wait, step in stages]
        for t in self._threads:
            t.start()
        self._finalizer = weakref.finalize(self, abandoned, self._order, self._deadline)

    # ------------------------------------------------------------------ streams
    def add_stream(self, name: str, sink: Sink, policy: str = "drop-oldest", queue_size: int = 2,
                   keep_source: bool = False) -> Stream:
        """A stream fed by the caller's submit(); keep_source=True also hands the input frame to the sink."""
        check_choice(policy, OVERLOAD_POLICIES, "policy")
        if not isinstance(queue_size, int) or queue_size < 1:
            raise EngineError(f"queue_size must be a positive integer, got {queue_size!r}")
        if not callable(sink):
            raise EngineError(f"sink must be a callable taking a StreamResult, got {type(sink).__name__}")
        with self._cond:
            if self._closing.is_set():
                raise EngineError("StreamRunner is closed")
            old = self._streams.get(name)
            if old is not None and not old.done:
                raise EngineError(f"a stream named {name!r} is still running; close_input() it and wait for it to "
                                  "end before a new stream takes its name")
            if old is not None:  # an ended stream's name is free again (a camera that reconnects)
                self._order.remove(old)
            stream = Stream(name, sink, policy, queue_size, keep_source, self._accept, self._cond)
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
        stream.reader = threading.Thread(target=read_source, args=(weakref.ref(self), stream, source, live, fps,
                                                                    start_after),
                                         name=f"drn-stream-source-{name}", daemon=True)
        stream.reader.start()
        return stream

    @property
    def closing(self) -> bool:
        """close() has begun: sources stop reading, no stream may be added."""
        return self._closing.is_set()

    @property
    def streams(self) -> dict[str, Stream]:
        with self._cond:
            return dict(self._streams)

    def stats(self) -> dict[str, StreamStats]:
        """A snapshot per stream; safe while other threads add streams (the dict is copied under the lock)."""
        return {name: s.stats() for name, s in self.streams.items()}

    def _accept(self, stream: Stream, frame, capture_time: float | None, wait: bool) -> bool:
        checked = F.check_frame(frame, None, self.engine.max_pixels)  # bad input raises in the caller's thread
        checked = np.array(checked, copy=True)  # capture loops often reuse their buffer for the next frame
        self.engine.target_size(*checked.shape[:2])  # a size the engine cannot take: EngineError, at once
        if capture_time is not None and (isinstance(capture_time, bool) or not isinstance(capture_time, (int, float))
                                         or not math.isfinite(capture_time)):
            raise EngineError(f"capture_time must be a finite time.monotonic() value (or None), got {capture_time!r}")
        t = now() if capture_time is None else capture_time
        with self._cond:
            while wait and (len(stream.waiting) >= stream.queue_size or stream.sink_full()) \
                    and not (self._closing.is_set() or stream.ended):
                self._cond.wait(POLL_S)
            if self._closing.is_set() or stream.ended:
                return False
            queued = QueuedFrame(stream, stream.next_index(), checked, t)
            stream.counters.accepted(t)
            if len(stream.waiting) >= stream.queue_size:
                old = stream.waiting.popleft()
                self._deliver_q.put([FrameOutcome.dropped(old) if stream.policy == "drop-oldest"
                                     else FrameOutcome.raw(old, "overload")])
            stream.waiting.append(queued)
            self._cond.notify_all()
        return True

    # ------------------------------------------------------------------ stages
    def _take_batch(self) -> list[QueuedFrame]:
        """The oldest frame of each waiting stream (one per stream: a longer batch would only make every frame in it
        wait longer), round robin, same size as the first, up to max_batch."""
        if not any(s.waiting for s in self._order):
            return []
        start = self._rr % len(self._order)
        ordered = [s for s in self._order[start:] + self._order[:start] if s.waiting]
        self._rr += 1
        size = ordered[0].waiting[0].frame.shape
        batch: list[QueuedFrame] = []
        for s in ordered:
            if s.waiting[0].frame.shape == size and len(batch) < self.max_batch:
                batch.append(s.waiting.popleft())
        return batch

    def _schedule_step(self, slot_taken: bool) -> bool:
        if not slot_taken:
            return True
        with self._cond:
            batch = self._take_batch()
            self._cond.notify_all()  # readers waiting for room
        if not batch:
            self._batch_slots.release()
            if self._closing.is_set():
                self._infer_q.put(None)
                return False
            return True
        try:
            prepared = self.engine.graph_input([q.frame for q in batch])
        except Exception as exc:
            prepared = exc
        self._infer_q.put((batch, prepared))  # bounded by the batch slots
        return True

    def _run_graph(self, graph_input: np.ndarray) -> np.ndarray:
        return self._deadline.run(self.engine.run_graph, graph_input)

    def _infer_step(self, item) -> bool:
        if item is IDLE:
            return True
        if item is None:
            self._deliver_q.put(None)
            return False
        batch, prepared = item
        try:
            if isinstance(prepared, BaseException):
                raise prepared
            result = GraphOutput(self._run_graph(prepared.batch), prepared.meta)
        except BaseException as exc:  # noqa: BLE001 - even SystemExit/KeyboardInterrupt from an engine call must
            result = exc              # not kill this thread: the batch fails by on_error, every frame counted
        self._batch_slots.release()
        while not self._post_slots.acquire(timeout=POLL_S):
            pass
        self._deliver_q.put(BatchDone(batch, result))
        return True

    def _deliver_step(self, item) -> bool:
        # item: a BatchDone, or a list of FrameOutcome (overload, shutdown)
        if item is IDLE:
            return True
        if item is None:
            for stream, waiting in self._pending.items():  # only at shutdown: nothing may be left unaccounted
                for index in sorted(waiting):
                    self._next_index[stream] = index
                    self._flush(stream, waiting, self._next_index)
            return False
        if isinstance(item, BatchDone):
            try:
                outcomes = self._batch_outcomes(item.batch, item.result)
            finally:
                self._post_slots.release()
        else:
            outcomes = item
        for o in outcomes:
            self._pending.setdefault(o.stream, {})[o.index] = o
            self._flush(o.stream, self._pending[o.stream], self._next_index)
        return True

    def _batch_outcomes(self, batch: list[QueuedFrame], result) -> list[FrameOutcome]:
        """What became of each frame of a batch. Frames of a stream already stopped by an earlier failure are dropped,
        whatever happened to the batch."""
        if not isinstance(result, BaseException):
            try:
                outs = self.engine.finish(result.output, result.meta)
                return [FrameOutcome.dropped(q) if q.stream.stopped
                        else FrameOutcome(q.stream, q.index, o, q.capture_time, None, q.frame)
                        for q, o in zip(batch, outs)]
            except Exception as exc:
                result = exc
        exc = as_inference_error(result)
        reason = "timeout" if isinstance(exc, FrameTimeout) else "error"
        log.warning("StreamRunner: a batch of %d frame(s) failed (%s); on_error=%s", len(batch), exc, self.on_error)
        out: list[FrameOutcome] = []
        for q in batch:
            s = q.stream
            if s.stopped:
                out.append(FrameOutcome.dropped(q))
                continue
            with s.counters.lock:
                s.counters.errors += 1
                s.counters.timeouts += reason == "timeout"
            if self.on_error == "passthrough":
                out.append(FrameOutcome.raw(q, reason))
            else:
                out.append(FrameOutcome.dropped(q))
                if self.on_error == "stop":
                    out += self._stop_stream(s, exc)
        return out

    def _stop_stream(self, stream: Stream, exc: BaseException) -> list[FrameOutcome]:
        """End a stream after an engine failure; its waiting frames will never run and are returned as dropped."""
        with self._cond:
            stream.ended = stream.stopped = True
            if self._failure is None:
                self._failure = exc
            with stream.counters.lock:
                stream.counters.error = stream.counters.error or f"engine failed: {exc}"
            dropped = [FrameOutcome.dropped(q) for q in stream.waiting]
            stream.waiting.clear()
            self._cond.notify_all()
        return dropped

    def _flush(self, stream: Stream, waiting: dict[int, FrameOutcome], next_index: dict[Stream, int]) -> None:
        """Deliver (or count as dropped) this stream's frames in order, as far as they are known."""
        i = next_index.get(stream, 0)
        while i in waiting:
            outcome = waiting.pop(i)
            i += 1
            if outcome.frame is None:
                with stream.counters.lock:
                    stream.counters.dropped += 1
                continue
            stream.hand_to_sink(outcome)
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

        Returns the final stats; raises the engine failure if on_error="stop" stopped a stream. Called from a
        sink or a source (one of the runner's own threads), it only asks the runner to stop and returns the stats
        so far: a thread cannot wait for itself, and the owner's close() still joins everything."""
        inside = threading.current_thread() in self._own_threads()
        if not inside:
            self._finalizer.detach()  # closed properly: nothing to do when collected
        with self._cond:
            already, self._joined = self._joined, self._joined or not inside
            for s in self._order:
                s.ended = True
                if not drain and s.waiting:
                    self._deliver_q.put([FrameOutcome.dropped(q) for q in s.waiting])
                    s.waiting.clear()
            self._closing.set()
            self._cond.notify_all()
        if inside:
            return self.stats()
        if not already:
            deadline = now() + timeout
            for s in self._order:
                if s.reader is not None:
                    s.reader.join(max(0.0, deadline - now()))
            for t in self._threads:
                t.join(max(0.0, deadline - now()))
            self._deadline.close()
            stuck_sinks = [s.name for s in self._order if not s.close_sink(deadline - now())]
            stuck = [t.name for t in self._threads + [s.reader for s in self._order if s.reader] if t.is_alive()]
            for s in self._order:
                with s.counters.lock:
                    s.counters.closed = True
            if stuck_sinks:
                raise EngineError(f"StreamRunner did not stop within {timeout:g} s: the sink of stream(s) "
                                  f"{', '.join(stuck_sinks)} is stuck in a call (the engine is not)")
            readers = [s.reader.name for s in self._order if s.reader and s.reader.is_alive()]
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

    def _own_threads(self) -> list[threading.Thread]:
        sinks = [s.sink_thread for s in self._order]
        return [t for t in self._threads + [s.reader for s in self._order] + sinks if t is not None]

    def __enter__(self) -> StreamRunner:
        return self

    def __exit__(self, exc_type, *rest) -> None:
        self.close(drain=exc_type is None)
