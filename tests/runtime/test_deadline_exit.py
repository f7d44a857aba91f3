"""A process that used timeout_ms exits cleanly: abandoned ONNX Runtime runs are cancelled and waited for.

Before: one passthrough timeout, then interpreter exit while the abandoned run was still computing on a daemon
thread, aborted the process ('terminate called without an active exception', exit 134, buffered stdout lost).
"""
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    from drn_edge.runtime import DerainEngine
    eng = DerainEngine(sys.argv[1], timeout_ms=1, on_error="passthrough", max_pixels=None)
    frame = np.full((1536, 2048, 3), 100, np.uint8)
    out = eng(frame)
    assert (out == frame).all() and eng.stats.timeouts == 1
    print("timed out and passed through")
    if sys.argv[2] == "close":
        eng.close()
    print("done")
""")


@pytest.mark.parametrize("ending", ["close", "no-close"])
def test_process_exits_cleanly_after_a_timeout(tiny_onnx, tmp_path, ending):
    script = tmp_path / "embed.py"
    script.write_text(SCRIPT)
    for _ in range(3):  # the abort was a race: several tries
        r = subprocess.run([sys.executable, str(script), str(tiny_onnx["float"]), ending], capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
        assert r.stdout.splitlines() == ["timed out and passed through", "done"]
        assert "terminate called" not in r.stderr


def _run_in_call(backend, batch, token, result):
    from drn_edge.runtime.deadline import call_scope

    def work():
        try:
            with call_scope(token):
                backend.run(batch)
            result["finished"] = True
        except Exception as exc:  # ORT raises on a terminated run
            result["error"] = str(exc)

    t = threading.Thread(target=work)
    t.start()
    return t


def test_abandoned_run_is_cancelled(tiny_onnx):
    """The ONNX Runtime backend ends a run in flight when its call is cancelled (RunOptions.terminate)."""
    from drn_edge.runtime.deadline import CallToken
    from drn_edge.runtime.onnxruntime_backend import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend(tiny_onnx["float"])
    token, result = CallToken(), {}
    t = _run_in_call(backend, np.zeros((4, 3, 1536, 2048), np.float32), token, result)
    while not backend._in_flight and t.is_alive():
        pass
    token.cancel()
    t.join(60)
    assert "error" in result and "terminate" in result["error"].lower(), result


def test_a_cancel_before_the_run_starts_sticks(tiny_onnx):
    """The limit ran out while the frame was still being prepared: the run is refused as it starts, not left to run."""
    from drn_edge.runtime.deadline import CallToken
    from drn_edge.runtime.onnxruntime_backend import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend(tiny_onnx["float"])
    token, result = CallToken(), {}
    token.cancel()
    t = _run_in_call(backend, np.zeros((1, 3, 64, 64), np.float32), token, result)
    t.join(60)
    assert "error" in result and "terminate" in result["error"].lower(), result


def test_deadline_cancels_the_call_it_abandons():
    """Each time-limited call carries its own token; the one abandoned is cancelled, even before its function runs."""
    import time

    from drn_edge.errors import FrameTimeout
    from drn_edge.runtime.deadline import Deadline, current_call

    seen = []

    def slow():
        time.sleep(0.3)
        seen.append(current_call().cancelled)

    deadline = Deadline(1)
    with pytest.raises(FrameTimeout):
        deadline.run(slow)
    deadline.close(wait_s=30)
    assert seen == [True]
    roomy = Deadline(60_000)
    first, second = roomy.run(current_call), roomy.run(current_call)
    assert first is not None and first is not second and not second.cancelled  # a fresh token per call
    assert current_call() is None
