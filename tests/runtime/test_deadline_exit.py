"""A process that used timeout_ms exits cleanly: abandoned ONNX Runtime runs are cancelled and waited for.

Before: one passthrough timeout, then interpreter exit while the abandoned run was still computing on a daemon
thread, aborted the process ('terminate called without an active exception', exit 134, buffered stdout lost).
"""
import subprocess
import sys
import textwrap

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


def test_abandoned_run_is_cancelled(tiny_onnx):
    """The ONNX Runtime backend ends a run in flight when its thread is cancelled (RunOptions.terminate)."""
    import threading

    import numpy as np

    from drn_edge.runtime.onnxruntime_backend import OnnxRuntimeBackend

    backend = OnnxRuntimeBackend(tiny_onnx["float"])
    batch = np.zeros((4, 3, 1536, 2048), np.float32)
    result = {}

    def work():
        try:
            backend.run(batch)
            result["finished"] = True
        except Exception as exc:  # ORT raises on a terminated run
            result["error"] = str(exc)

    t = threading.Thread(target=work)
    t.start()
    while t.ident not in backend._in_flight and t.is_alive():
        pass
    backend.cancel(t.ident)
    t.join(60)
    assert "error" in result and "terminate" in result["error"].lower(), result
