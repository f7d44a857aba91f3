"""StreamRunner under load and faults: real ONNX Runtime engine, small frames, bounded time."""
from __future__ import annotations

import threading
import time
import warnings

import numpy as np
import pytest

from drn_edge.errors import EngineError, ImageError, InferenceError

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def engine(tiny_onnx):
    from drn_edge.runtime import DerainEngine

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        eng = DerainEngine(tiny_onnx["float"], threads=1)
    yield eng
    eng.close()


def _frames(n, h=48, w=64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


class FlakyEngine:
    """The real engine, with run_graph failing (or stalling) on chosen calls."""

    def __init__(self, engine, fail_calls=(), stall_calls=(), stall_s=0.0):
        self._engine, self.fail_calls, self.stall_calls, self.stall_s = engine, set(fail_calls), set(stall_calls), stall_s
        self.calls = 0

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def run_graph(self, batch):
        self.calls += 1
        self.batch_sizes = getattr(self, "batch_sizes", []) + [len(batch)]
        if self.calls in self.fail_calls:
            raise RuntimeError(f"injected failure on call {self.calls}")
        if self.calls in self.stall_calls:
            time.sleep(self.stall_s)
        return self._engine.run_graph(batch)


class Collector:
    def __init__(self):
        self.results = {}
        self.lock = threading.Lock()

    def __call__(self, r):
        with self.lock:
            self.results.setdefault(r.stream, []).append(r)


def _no_runner_threads():
    return not [t.name for t in threading.enumerate() if t.name.startswith("drn-stream")]


def test_outputs_match_the_engine_in_order_with_mixed_sizes(engine):
    from drn_edge.runtime.streaming import StreamRunner

    a, b = _frames(6, 48, 64, seed=1), _frames(6, 40, 56, seed=2)
    sink = Collector()
    with StreamRunner(engine) as runner:
        runner.add_source("a", a, sink, live=False)
        runner.add_source("b", b, sink, live=False)
        assert runner.wait(30)
        stats = runner.close()
    for name, frames in (("a", a), ("b", b)):
        got = sink.results[name]
        assert [r.index for r in got] == list(range(6)) and all(r.derained for r in got)
        for r, f in zip(got, frames):
            diff = np.abs(r.frame.astype(int) - engine(f).astype(int)).max()
            assert diff <= 1, f"stream {name} frame {r.index} differs from a direct engine call by {diff}"
        assert stats[name].frames_in == stats[name].frames_out == 6 and stats[name].dropped == 0
    assert _no_runner_threads()


def test_overload_four_streams_drops_counted_latency_bounded_memory_flat(engine):
    from drn_edge.runtime.streaming import StreamRunner

    def rss_mb():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096 / 2**20

    frames = _frames(4)
    sink = Collector()
    per_stream = 800  # 3200 frames in all, submitted far faster than the engine can run
    runner = StreamRunner(engine)
    streams = [runner.add_stream(f"cam{i}", sink, queue_size=2) for i in range(4)]
    rss_early = None
    for k in range(per_stream):
        for i, s in enumerate(streams):
            assert s.submit(frames[i])
        if k == 200:
            rss_early = rss_mb()
        if k % 4 == 0:
            time.sleep(0.0005)
    stats = runner.close()
    rss_end = rss_mb()
    assert _no_runner_threads()
    for name, st in stats.items():
        assert st.frames_in == per_stream
        assert st.dropped == st.frames_in - st.frames_out > 0, st
        assert st.in_flight == 0 and st.closed
        lat = [r.latency_ms for r in sink.results[name]]
        # bounded: the last frames wait no longer than the first ones did (no queue growing behind them)
        assert max(lat[len(lat) // 2:]) < max(3 * max(lat[: len(lat) // 2]), 500), (lat[:5], lat[-5:])
    assert rss_end - rss_early < 40, f"RSS grew {rss_end - rss_early:.1f} MB over {4 * per_stream} frames"


def test_same_size_frames_of_several_cameras_share_a_batch(engine):
    from drn_edge.runtime.streaming import StreamRunner

    flaky = FlakyEngine(engine, stall_calls={1}, stall_s=0.3)
    sink = Collector()
    with StreamRunner(flaky, pipeline_depth=0) as runner:
        cams = [runner.add_stream(f"cam{i}", sink) for i in range(3)]
        cams[0].submit(_frames(1)[0])
        time.sleep(0.1)  # the first batch is running (stalled): the next frames wait together
        for cam in cams:
            cam.submit(_frames(1, seed=1)[0])
    assert flaky.batch_sizes[0] == 1 and 3 in flaky.batch_sizes[1:], flaky.batch_sizes
    assert sum(len(v) for v in sink.results.values()) == 4


def test_overload_passthrough_delivers_every_frame(engine):
    from drn_edge.runtime.streaming import StreamRunner

    frame = _frames(1)[0]
    sink = Collector()
    runner = StreamRunner(engine)
    s = runner.add_stream("cam", sink, policy="passthrough", queue_size=1)
    for _ in range(200):
        s.submit(frame)
    st = runner.close()["cam"]
    got = sink.results["cam"]
    assert st.frames_out == st.frames_in == 200 and st.dropped == 0 and st.passed_through > 0
    assert [r.index for r in got] == list(range(200))
    raw = [r for r in got if not r.derained]
    assert len(raw) == st.passed_through and all(r.reason == "overload" and np.array_equal(r.frame, frame) for r in raw)


@pytest.mark.parametrize("policy", ["passthrough", "drop", "stop"])
def test_engine_failure_mid_stream_applies_the_policy(engine, policy):
    from drn_edge.runtime.streaming import StreamRunner

    flaky = FlakyEngine(engine, fail_calls={3, 4})
    frames = _frames(12)
    sink = Collector()
    runner = StreamRunner(flaky, on_error=policy, max_batch=1)
    runner.add_source("cam", frames, sink, live=False)
    runner.wait(30)
    if policy == "stop":
        with pytest.raises(InferenceError, match="injected failure"):
            runner.close()
        st = runner.stats()["cam"]
        assert st.errors == 1 and st.error and st.frames_in == st.frames_out + st.dropped
        assert st.frames_out == 2  # the two frames before the failure; the stream stopped at the third
        return
    st = runner.close()["cam"]
    assert st.errors == 2 and st.frames_in == 12 == st.frames_out + st.dropped
    if policy == "passthrough":
        raw = [r for r in sink.results["cam"] if not r.derained]
        assert st.passed_through == 2 and [r.index for r in raw] == [2, 3]
        assert all(r.reason == "error" and np.array_equal(r.frame, frames[r.index]) for r in raw)
    else:
        assert st.dropped == 2 and [r.index for r in sink.results["cam"]] == [0, 1] + list(range(4, 12))
    assert flaky.calls >= 12 - (policy == "drop") * 0  # the runner kept going after the failures


def test_stall_times_out_and_the_runtime_keeps_running(engine):
    from drn_edge.runtime.streaming import StreamRunner

    flaky = FlakyEngine(engine, stall_calls={2}, stall_s=0.6)
    sink = Collector()
    runner = StreamRunner(flaky, on_error="passthrough", timeout_ms=150, max_batch=1)
    runner.add_source("cam", _frames(8), sink, live=False)
    assert runner.wait(30)
    st = runner.close()["cam"]
    assert st.timeouts == 1 and st.passed_through == 1 and st.derained == 7
    assert [r.reason for r in sink.results["cam"]][1] == "timeout"


def test_a_stall_without_timeout_drops_oldest_and_recovers(engine):
    from drn_edge.runtime.streaming import StreamRunner

    flaky = FlakyEngine(engine, stall_calls={3}, stall_s=0.5)
    sink = Collector()
    runner = StreamRunner(flaky)
    runner.add_source("cam", _frames(60), sink, live=True, fps=100)
    assert runner.wait(30)
    st = runner.close()["cam"]
    assert st.dropped > 10 and st.frames_in == 60 == st.frames_out + st.dropped
    assert sink.results["cam"][-1].index == 59 and sink.results["cam"][-1].derained  # served again after the stall


def test_a_failing_source_closes_its_stream_only(engine):
    from drn_edge.runtime.streaming import StreamRunner

    def broken():
        yield from _frames(3)
        raise OSError("camera unplugged")

    sink = Collector()
    runner = StreamRunner(engine)
    runner.add_source("bad", broken(), sink, live=False)
    runner.add_source("short", _frames(2), sink, live=False)
    runner.add_source("good", _frames(10), sink, live=False)
    assert runner.wait(30)
    stats = runner.close()
    assert "camera unplugged" in stats["bad"].error and stats["bad"].frames_out == 3
    assert stats["short"].error is None and stats["short"].frames_out == 2
    assert stats["good"].frames_out == 10
    assert _no_runner_threads()


def test_shutdown_without_drain_counts_what_was_waiting(engine):
    from drn_edge.runtime.streaming import StreamRunner

    flaky = FlakyEngine(engine, stall_calls={1}, stall_s=0.3)
    runner = StreamRunner(flaky)
    s = runner.add_stream("cam", Collector(), queue_size=4)
    for f in _frames(6):
        s.submit(f)
    st = runner.close(drain=False)["cam"]
    assert st.frames_in == 6 == st.frames_out + st.dropped and st.dropped >= 1
    assert not s.submit(_frames(1)[0])  # closed: refused, not queued
    assert _no_runner_threads()


def test_bad_input_is_refused_in_the_callers_thread(engine, tiny_onnx):
    from drn_edge.runtime import DerainEngine
    from drn_edge.runtime.streaming import StreamRunner

    with StreamRunner(engine) as runner:
        s = runner.add_stream("cam", Collector())
        with pytest.raises(ImageError):
            s.submit(np.zeros((48, 64), np.uint8))
        with pytest.raises(EngineError, match="policy must be"):
            runner.add_stream("x", Collector(), policy="newest")
        with pytest.raises(EngineError, match="is still running"):
            runner.add_stream("cam", Collector())
    with pytest.raises(EngineError, match="on_error must be"):
        StreamRunner(engine, on_error="raise")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fixed = DerainEngine(tiny_onnx["uint8_fixed"])
    try:
        with StreamRunner(fixed) as runner:
            with pytest.raises(EngineError, match="built for 64x96"):
                runner.add_stream("cam", Collector()).submit(np.zeros((48, 64, 3), np.uint8))
    finally:
        fixed.close()
