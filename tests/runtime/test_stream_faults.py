"""StreamRunner under faults (reliability round 3): slow or failing sinks, engines that raise, races, dropped runners."""
import threading
import time

import numpy as np
import pytest

from drn_edge.runtime import DerainEngine


def test_defect14_stats_while_streams_are_added(tiny_onnx):
    from drn_edge.runtime import StreamRunner

    with DerainEngine(tiny_onnx["float"]) as e:
        runner = StreamRunner(e)
        errors = []

        def poll():
            for _ in range(2000):
                try:
                    runner.stats()
                except Exception as exc:  # noqa: BLE001
                    errors.append(exc)

        t = threading.Thread(target=poll)
        t.start()
        for i in range(300):
            runner.add_stream(f"s{i}", lambda r: None)
        t.join()
        runner.close()
    assert not errors


def test_weak_pipeline_depth_is_bounded(tiny_onnx):
    from drn_edge.errors import EngineError
    from drn_edge.runtime import StreamRunner

    with DerainEngine(tiny_onnx["float"]) as e, pytest.raises(EngineError, match="pipeline_depth must be an integer from 0 to 8"):
        StreamRunner(e, pipeline_depth=10**6)


def test_defect5_systemexit_in_a_sink_and_keyboardinterrupt_in_the_engine_are_counted(tiny_onnx):
    from drn_edge.runtime import StreamRunner

    with DerainEngine(tiny_onnx["float"]) as e:
        runner = StreamRunner(e, on_error="passthrough")
        got = []

        def bad_sink(r):
            got.append(r.index)
            if r.index == 1:
                raise SystemExit(3)

        s = runner.add_stream("a", bad_sink, policy="passthrough", queue_size=8)
        for _ in range(4):
            s.submit(np.zeros((32, 48, 3), np.uint8))
            time.sleep(0.05)
        calls = {"n": 0}
        real = e.run_graph

        def flaky(x):
            calls["n"] += 1
            if calls["n"] == 1:
                raise KeyboardInterrupt
            return real(x)

        e.run_graph = flaky
        for _ in range(3):
            s.submit(np.zeros((32, 48, 3), np.uint8))
            time.sleep(0.05)
        s.close_input()
        assert runner.wait(timeout=20)
        stats = runner.close()["a"]
    assert stats.frames_in == 7 and stats.frames_in == stats.frames_out + stats.dropped
    assert stats.sink_errors == 1 and stats.errors == 1 and got == list(range(7))


def test_weak_stream_times_and_rates_are_checked_and_the_engines_timeout_carries_over(tiny_onnx):
    from drn_edge.errors import EngineError
    from drn_edge.runtime import StreamRunner

    with DerainEngine(tiny_onnx["float"], timeout_ms=5000) as e:
        runner = StreamRunner(e)
        assert runner.timeout_ms == 5000
        for bad in (-1, float("nan"), 0):
            with pytest.raises(EngineError, match="fps must be a finite number > 0"):
                runner.add_source(f"s{bad}", [], lambda r: None, fps=bad)
        s = runner.add_stream("a", lambda r: None)
        with pytest.raises(EngineError, match="capture_time must be a finite"):
            s.submit(np.zeros((32, 48, 3), np.uint8), capture_time=float("nan"))
        runner.close()


def test_defect5_one_slow_sink_does_not_stall_the_other_camera(tiny_onnx):
    from drn_edge.runtime import StreamRunner

    with DerainEngine(tiny_onnx["float"]) as e:
        runner = StreamRunner(e)
        fast_got = []
        slow = runner.add_stream("slow", lambda r: time.sleep(0.3))
        fast = runner.add_stream("fast", lambda r: fast_got.append(r.index))
        for _ in range(30):
            slow.submit(np.zeros((32, 48, 3), np.uint8))
            fast.submit(np.zeros((32, 48, 3), np.uint8))
            time.sleep(0.02)
        slow.close_input()
        fast.close_input()
        assert runner.wait(timeout=30)
        stats = runner.close()
    assert stats["fast"].frames_out >= 20, stats["fast"]  # was 2 of 30 when every sink shared one thread
    assert fast_got == sorted(fast_got)
    for s in stats.values():
        assert s.frames_in == s.frames_out + s.dropped
    assert stats["slow"].dropped > 0  # the slow camera drops its own oldest results, counted


def test_weak_close_names_a_stuck_sink_not_the_engine(tiny_onnx):
    from drn_edge.errors import EngineError
    from drn_edge.runtime import StreamRunner

    release = threading.Event()
    with DerainEngine(tiny_onnx["float"]) as e:
        runner = StreamRunner(e)
        s = runner.add_stream("cam", lambda r: release.wait(10))
        s.submit(np.zeros((32, 48, 3), np.uint8))
        time.sleep(0.3)
        with pytest.raises(EngineError, match="sink of stream\\(s\\) cam is stuck"):
            runner.close(timeout=0.5)
        release.set()


def test_a_runner_dropped_without_close_ends_its_threads(tiny_onnx):
    """Weak item: a StreamRunner dropped without close() used to keep its stage, sink and source threads forever."""
    import gc
    import itertools
    import threading
    import time

    from drn_edge.runtime import DerainEngine, StreamRunner

    def stream_threads():
        return [t for t in threading.enumerate() if t.name.startswith("drn-stream")]

    frame = np.zeros((16, 16, 3), np.uint8)
    with DerainEngine(tiny_onnx["float"], backend="onnxruntime-cpu") as engine:
        before = len(stream_threads())
        runner = StreamRunner(engine)
        cam = runner.add_stream("cam", sink=lambda r: None)
        cam.submit(frame)
        runner.add_source("endless", itertools.repeat(frame), sink=lambda r: None, fps=50)
        time.sleep(0.3)
        assert len(stream_threads()) >= before + 4
        del runner, cam
        gc.collect()
        end = time.monotonic() + 5
        while len(stream_threads()) > before and time.monotonic() < end:
            time.sleep(0.05)
        assert len(stream_threads()) == before, [t.name for t in stream_threads()]


def test_wait_returns_after_the_last_sink_call_has_finished(tiny_onnx):
    """StreamRunner.wait() returned while the last sink call was still running (round 4, item 20)."""
    import time

    import numpy as np

    from drn_edge.runtime import DerainEngine, StreamRunner

    finished = []

    def slow_sink(result):
        time.sleep(0.3)
        finished.append(result.index)

    with DerainEngine(tiny_onnx["float"]) as engine, StreamRunner(engine) as runner:
        frames = [np.zeros((32, 48, 3), np.uint8)] * 3
        runner.add_source("file", iter(frames), slow_sink, live=False)
        assert runner.wait(timeout=30)
        assert finished == [0, 1, 2]


def test_an_ended_stream_keeps_no_thread_and_its_name_can_be_reused(tiny_onnx):
    """Every ended stream kept a live sink thread until close() (60 reconnecting cameras: 60 threads), and a
    reconnecting camera could not reuse its name (round 4, item 14)."""
    import threading
    import time

    import numpy as np

    from drn_edge.runtime import DerainEngine, StreamRunner

    got = []
    with DerainEngine(tiny_onnx["float"]) as engine, StreamRunner(engine) as runner:
        for _ in range(5):  # the camera drops and reconnects under the same name
            runner.add_source("cam", iter([np.zeros((32, 48, 3), np.uint8)] * 2), got.append, live=False)
            assert runner.wait(timeout=30)
        deadline = time.monotonic() + 5
        per_stream = ("drn-stream-sink-", "drn-stream-source-")
        while time.monotonic() < deadline and any(t.name.startswith(per_stream) for t in threading.enumerate()):
            time.sleep(0.05)
        assert not [t.name for t in threading.enumerate() if t.name.startswith(per_stream)]
        assert len(got) == 10 and list(runner.streams) == ["cam"]


def test_a_slow_sink_on_a_lossless_stream_does_not_stall_the_other_cameras(tiny_onnx):
    """One slow sink on a file stream stalled every camera (the other got 10 of 147 frames in 3 s; round 4,
    item 8). The file stream is now held back at its input; the camera keeps flowing."""
    import time

    import numpy as np

    from drn_edge.runtime import DerainEngine, StreamRunner

    slow, fast = [], []
    frame = np.zeros((32, 48, 3), np.uint8)
    with DerainEngine(tiny_onnx["float"]) as engine, StreamRunner(engine) as runner:
        runner.add_source("file", iter([frame] * 200), lambda r: (time.sleep(0.2), slow.append(r.index)), live=False)
        cam = runner.add_stream("cam", fast.append)
        sent = 0
        t_end = time.monotonic() + 2.0
        while time.monotonic() < t_end:
            cam.submit(frame)
            sent += 1
            time.sleep(0.05)
        time.sleep(0.5)
        assert len(fast) >= 0.6 * sent, (len(fast), sent)
        assert slow == list(range(len(slow)))  # the file stream loses nothing, it is only slower
        runner.close(drain=False)


def test_close_called_from_a_sink_asks_the_runner_to_stop_instead_of_raising_in_the_sink(tiny_onnx):
    """runner.close() from inside a sink raised there (a thread cannot join itself); now it asks for the stop and the
    owner's close() joins everything (round 4, weaker finding)."""
    import itertools
    import threading

    import numpy as np

    from drn_edge.runtime import DerainEngine, StreamRunner

    got, errors = [], []
    with DerainEngine(tiny_onnx["float"]) as engine:
        runner = StreamRunner(engine)

        def stop_after_two(result):
            got.append(result.index)
            if len(got) == 2:
                try:
                    runner.close()
                except Exception as exc:  # noqa: BLE001 - the test records what the sink saw
                    errors.append(exc)

        frames = (np.zeros((32, 48, 3), np.uint8) for _ in itertools.count())  # an endless camera
        runner.add_source("cam", frames, stop_after_two, live=False)
        assert runner.wait(timeout=30)  # the sink's close() ended the stream
        stats = runner.close()
        assert errors == [] and len(got) >= 2 and stats["cam"].frames_out == len(got)
        assert stats["cam"].frames_in == stats["cam"].frames_out + stats["cam"].dropped
        assert not [t for t in threading.enumerate() if t.name.startswith("drn-stream-")]
