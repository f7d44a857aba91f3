import os
import subprocess
import sys
import threading

import numpy as np
import pytest

from drn_edge.errors import EngineError, ImageError, MissingDependencyError
from drn_edge.evaluation.fidelity import torch_derain
from drn_edge.runtime import DerainEngine
from drn_edge.runtime.tensorrt_backend import plan_compatibility_problems
from drn_edge.sidecar import write_sidecar


@pytest.fixture(scope="module")
def bgr(frame_rgb):
    return np.ascontiguousarray(frame_rgb[..., ::-1])


def test_runtime_never_imports_torch(tiny_onnx):
    code = ("import sys, numpy as np\nfrom drn_edge.runtime import DerainEngine\n"
            f"e = DerainEngine({str(tiny_onnx['float'])!r})\n"
            "out = e(np.zeros((40, 56, 3), np.uint8))\nassert out.shape == (40, 56, 3)\n"
            "assert 'torch' not in sys.modules, 'runtime imported torch'\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_output_matches_pytorch_reference(tiny_model, tiny_onnx, frame_rgb, bgr):
    ref = torch_derain(tiny_model)(frame_rgb)
    for path in tiny_onnx.values():
        with DerainEngine(path) as engine:
            out = engine(bgr)
        assert out.shape == bgr.shape and out.dtype == np.uint8
        assert np.abs(out[..., ::-1].astype(int) - ref.astype(int)).mean() < 0.05


def test_list_in_list_out_with_mixed_sizes(tiny_onnx, bgr):
    with DerainEngine(tiny_onnx["float"]) as engine:
        single = engine(bgr)
        outs = engine([bgr, bgr[:40, :50], bgr])
    assert isinstance(outs, list) and [o.shape for o in outs] == [bgr.shape, (40, 50, 3), bgr.shape]
    assert np.array_equal(outs[0], single) and np.array_equal(outs[2], single)
    assert engine.stats.frames == 4


def test_rgb_and_float_frames(tiny_onnx, bgr):
    with DerainEngine(tiny_onnx["float"]) as engine, DerainEngine(tiny_onnx["float"], color="rgb") as rgb_engine:
        out = engine(bgr)
        assert np.array_equal(rgb_engine(bgr[..., ::-1])[..., ::-1], out)
        assert np.array_equal(engine.derain_rgb(bgr[..., ::-1])[..., ::-1], out)
        f = engine(bgr.astype(np.float32) / 255)
        assert f.dtype == np.float32 and np.abs(f * 255 - out).max() <= 1.0
        rain = engine.rain_layer(bgr)
        assert rain.dtype == np.float32 and rain.shape == bgr.shape
        assert np.allclose(rain, (bgr.astype(np.float32) - out) / 255)


def test_frames_of_any_size_are_padded_and_cropped(tiny_model, tiny_onnx, frame_rgb):
    odd = np.ascontiguousarray(frame_rgb[:61, :90])
    with DerainEngine(tiny_onnx["float"], color="rgb") as engine:
        out = engine(odd)
    assert out.shape == odd.shape
    assert np.abs(out.astype(int) - torch_derain(tiny_model)(odd).astype(int)).mean() < 0.05


def test_static_engine_refuses_other_sizes_unless_resize(tiny_onnx, bgr):
    with DerainEngine(tiny_onnx["uint8_fixed"]) as engine:
        assert engine(bgr).shape == (64, 96, 3)
        with pytest.raises(EngineError, match=r"built for 64x96 frames \(HxW\) but got 48x80"):
            engine(bgr[:48, :80])
    with DerainEngine(tiny_onnx["uint8_fixed"], resize=True) as engine:
        assert engine(bgr[:48, :80]).shape == (48, 80, 3)


@pytest.mark.parametrize("bad,match", [
    (np.zeros((8, 8), np.uint8), "greyscale"),
    (np.zeros((8, 8, 4), np.uint8), "BGRA"),
    (np.zeros((0, 8, 3), np.uint8), "empty"),
    (np.zeros((8, 8, 3), np.int16), "dtype int16"),
    (np.full((8, 8, 3), np.nan, np.float32), "NaN"),
    ("frame.png", "numpy array"),
])
def test_bad_frames_get_specific_errors(tiny_onnx, bad, match):
    with DerainEngine(tiny_onnx["float"]) as engine:
        with pytest.raises(ImageError, match=match):
            engine([bad]) if isinstance(bad, str) else engine(bad)


def test_non_contiguous_frames_are_handled(tiny_onnx, bgr):
    flipped = bgr[:, ::-1]
    assert not flipped.flags.c_contiguous
    with DerainEngine(tiny_onnx["float"]) as engine:
        assert np.array_equal(engine(flipped), engine(np.ascontiguousarray(flipped)))


def test_onnx_whose_sidecar_disagrees_is_refused(tiny_onnx, tmp_path):
    p = tmp_path / "m.onnx"
    p.write_bytes(tiny_onnx["float"].read_bytes())
    write_sidecar(p, {"kind": "onnx"})
    p.write_bytes(p.read_bytes() + b"\0")
    with pytest.raises(EngineError, match="does not match its sidecar"):
        DerainEngine(p)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_onnx_is_a_clear_error_not_a_crash(tiny_onnx, tmp_path, damage):
    data = tiny_onnx["float"].read_bytes()
    p = tmp_path / "bad.onnx"
    p.write_bytes({"truncate": data[: len(data) // 3], "garbage": os.urandom(2048), "empty": b""}[damage])
    code = ("from drn_edge.runtime import DerainEngine\nfrom drn_edge.errors import EngineError\n"
            f"try:\n    DerainEngine({str(p)!r})\nexcept EngineError as e:\n    print('EngineError', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("EngineError"), (out.returncode, out.stderr[-500:])


def test_plan_checks_happen_before_tensorrt(tmp_path):
    plan = tmp_path / "drn.int8.plan"
    plan.write_bytes(b"not a real plan")
    with pytest.raises(EngineError, match="has no sidecar"):
        DerainEngine(plan)
    write_sidecar(plan, {"kind": "tensorrt-plan", "tensorrt_version": "10.3.0", "gpu": {"name": "Orin", "compute_capability": "8.7"}})
    plan.write_bytes(b"tampered plan")
    with pytest.raises(EngineError, match="does not match its sidecar"):
        DerainEngine(plan)
    write_sidecar(plan, {"kind": "onnx"})
    with pytest.raises(EngineError, match="does not describe a TensorRT plan"):
        DerainEngine(plan)
    (tmp_path / "drn.int8.plan.json").write_text("{broken")
    with pytest.raises(EngineError, match="not valid JSON"):
        DerainEngine(plan)


def test_valid_plan_without_tensorrt_names_the_extra(tmp_path):
    try:
        import tensorrt  # noqa: F401
        pytest.skip("tensorrt is installed here")
    except ImportError:
        pass
    plan = tmp_path / "drn.plan"
    plan.write_bytes(b"plan")
    write_sidecar(plan, {"kind": "tensorrt-plan"})
    with pytest.raises(MissingDependencyError, match=r"drn-edge\[tensorrt\]"):
        DerainEngine(plan)


def test_plan_compatibility_rules():
    rec = {"tensorrt_version": "10.3.0", "gpu": {"name": "Orin", "compute_capability": "8.7"}, "source": {"file": "drn.int8.onnx"}}
    assert plan_compatibility_problems(rec, "10.3.0", {"name": "Orin", "compute_capability": "8.7"}) == []
    p = plan_compatibility_problems(rec, "10.7.0", {"name": "NVIDIA H100", "compute_capability": "9.0"})
    assert any("TensorRT 10.3.0" in x for x in p) and any("compute capability 8.7" in x for x in p)


def test_wrong_backend_for_file_type(tiny_onnx, tmp_path):
    with pytest.raises(EngineError, match="ONNX file"):
        DerainEngine(tiny_onnx["float"], backend="tensorrt")
    with pytest.raises(EngineError, match="does not exist"):
        DerainEngine(tmp_path / "nope.plan")
    with pytest.raises(EngineError, match="backend must be"):
        DerainEngine(tiny_onnx["float"], backend="cuda")
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        with pytest.raises(EngineError, match="onnxruntime-gpu"):
            DerainEngine(tiny_onnx["float"], backend="onnxruntime-cuda")


def test_closed_engine(tiny_onnx, bgr):
    with DerainEngine(tiny_onnx["float"]) as engine:
        engine(bgr)
    with pytest.raises(EngineError, match="closed"):
        engine(bgr)
    engine.close()  # twice is fine


def test_four_threads_match_single_thread(tiny_onnx, frame_rgb):
    rng = np.random.default_rng(0)
    frames = [np.ascontiguousarray(np.roll(frame_rgb, int(rng.integers(50)), axis=1)) for _ in range(12)]
    with DerainEngine(tiny_onnx["float"], color="rgb") as engine:
        expected = [engine(f) for f in frames]
        results: dict[tuple[int, int], np.ndarray] = {}
        errors = []

        def worker(t):
            try:
                for i, f in enumerate(frames):
                    results[(t, i)] = engine(f)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=worker, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
    assert not errors
    assert all(np.array_equal(results[(t, i)], expected[i]) for t in range(4) for i in range(len(frames)))


def test_passthrough_covers_frame_failures_only_and_logs_them(tiny_onnx, bgr, caplog, monkeypatch):
    import logging

    from drn_edge.errors import EngineError

    frame = np.ascontiguousarray(bgr[:64, :96])
    with DerainEngine(tiny_onnx["uint8_fixed"], on_error="passthrough") as engine:
        # Setup errors raise even with passthrough: a size the engine cannot take, bad input.
        with pytest.raises(EngineError, match="built for 64x96"):
            engine(np.ascontiguousarray(bgr[:40, :40]))
        with pytest.raises(ImageError):
            engine(np.zeros((8, 8), np.uint8))
        assert engine.stats.passthrough == 0
        # A failing backend and a NaN-producing graph are per-frame failures: raw frame back, counted, logged.
        calls = {"n": 0}

        def failing(batch):
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("device lost")
            return np.full((1, 3, 64, 96), np.nan, np.float32) if not engine.io.uint8_bgr else batch[:, :8]

        monkeypatch.setattr(engine._backend, "run", failing)
        with caplog.at_level(logging.WARNING, logger="drn_edge.runtime"):
            assert np.array_equal(engine(frame), frame)
            assert np.array_equal(engine(frame), frame)  # wrong output shape: also a passthrough
        assert engine.stats.passthrough == 2 and "device lost" in engine.stats.errors[0]
        assert "expected (1, 64, 96, 3)" in engine.stats.errors[1]
        assert sum("passthrough" in r.message for r in caplog.records) == 1  # first at once, the rest summarised
    with pytest.raises(EngineError, match="is closed"):
        engine(frame)


def test_output_checks_without_passthrough(tiny_onnx, bgr, monkeypatch):
    from drn_edge.errors import InferenceError

    with DerainEngine(tiny_onnx["float"]) as engine:
        monkeypatch.setattr(engine._backend, "run", lambda b: np.full(b.shape, np.nan, np.float32))
        with pytest.raises(InferenceError, match="NaN"):
            engine(np.ascontiguousarray(bgr[:16, :16]))
        monkeypatch.setattr(engine._backend, "run", lambda b: b[:, :, ::2, ::2])
        with pytest.raises(InferenceError, match="expected"):
            engine(np.ascontiguousarray(bgr[:16, :16]))


def _rss_mb() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.slow
def test_soak_2000_frames_rss_stays_flat(tiny_onnx):
    frame = np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8)
    with DerainEngine(tiny_onnx["float"]) as engine:
        for _ in range(200):
            engine(frame)
        start = _rss_mb()
        for _ in range(1800):
            engine(frame)
        growth = _rss_mb() - start
    assert engine.stats.frames == 2000
    assert growth < 15, f"RSS grew {growth:.1f} MB over 1800 frames"


def test_per_frame_timeout_passes_frames_through(tiny_onnx, bgr):
    big = np.ascontiguousarray(np.tile(bgr, (4, 4, 1)))  # slow enough to miss a 0.01 ms deadline
    with DerainEngine(tiny_onnx["float"], on_error="passthrough", timeout_ms=0.01) as engine:
        out = engine(big)
        assert np.array_equal(out, big)
        assert engine.stats.timeouts == 1 and engine.stats.passthrough == 1
    with DerainEngine(tiny_onnx["float"], timeout_ms=10_000) as engine:  # generous: real output
        assert not np.array_equal(engine(bgr), bgr) and engine.stats.timeouts == 0
    with DerainEngine(tiny_onnx["float"], timeout_ms=0.01) as engine:  # no passthrough asked: an error
        with pytest.raises(EngineError, match="timeout_ms"):
            engine(big)
