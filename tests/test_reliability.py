"""Never a wrong frame in silence, never a user's file lost, never unbounded memory (one test per defect)."""
import json
import math
import subprocess
import sys
import warnings

import cv2
import numpy as np
import pytest

from drn_edge.errors import CheckpointError, ConfigError, EngineError, ImageError
from drn_edge.runtime import DerainEngine


@pytest.fixture()
def bgr():
    return np.random.default_rng(0).integers(0, 255, (32, 48, 3), dtype=np.uint8)


# ---------------------------------------------------------------- wrong output without an error
def test_float_frames_outside_unit_range_are_refused(tiny_onnx, bgr):
    with DerainEngine(tiny_onnx["float"]) as engine:
        with pytest.raises(ImageError, match=r"values in \[0, 25[45]\]; float frames must lie in \[0, 1\]"):
            engine(bgr.astype(np.float32))
        out = engine(bgr.astype(np.float32) / 255)
        assert out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
        with pytest.raises(ValueError):  # camera code catching ValueError catches a bad frame
            engine.rain_layer(bgr.astype(np.float32))


@pytest.mark.parametrize("bad", [math.inf, math.nan, 0, -5, "50"])
def test_timeout_must_be_finite_and_positive(tiny_onnx, bad):
    with pytest.raises(EngineError, match="timeout_ms must be a finite number"):
        DerainEngine(tiny_onnx["float"], on_error="passthrough", timeout_ms=bad)


def _halving_graph(path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("rainy", TensorProto.FLOAT, ["N", 3, "H", "W"])
    y = helper.make_tensor_value_info("derained", TensorProto.FLOAT, ["N", 3, "h", "w"])
    node = helper.make_node("MaxPool", ["rainy"], ["derained"], kernel_shape=[2, 2], strides=[2, 2])
    model = helper.make_model(helper.make_graph([node], "halve", [x], [y]), opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def test_a_graph_that_changes_the_frame_size_is_refused_at_load(tmp_path):
    path = _halving_graph(tmp_path / "halve.onnx")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(EngineError, match=r"not a usable DRN graph: graph output is \(1, 3, 8, 8\)"):
            DerainEngine(path)


def test_nan_weights_fail_the_export_before_anything_is_written(tiny_model, tmp_path):
    import torch

    from drn_edge.cli.export import main as export_main
    from drn_edge.model.checkpoint import save_checkpoint
    from drn_edge.model.drn import DRN

    broken = DRN(tiny_model.cfg)
    broken.load_state_dict(tiny_model.state_dict())
    with torch.no_grad():
        broken.head.weight[0, 0, 0, 0] = float("nan")
    ckpt = save_checkpoint(broken, tmp_path / "nan.safetensors")
    out = tmp_path / "out"
    assert export_main(["--checkpoint", str(ckpt), "--out", str(out)]) == 2
    assert not (out / "drn.onnx").exists()


# ---------------------------------------------------------------- data lost
def _img(path, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 255, (16, 24, 3), dtype=np.uint8))
    return path


def test_derain_never_overwrites_inputs_or_collides(tiny_onnx, tmp_path, capsys):
    from drn_edge.cli.derain import main

    a, b = _img(tmp_path / "a" / "x.png", 1), _img(tmp_path / "b" / "x.png", 2)
    webp = tmp_path / "c" / "x.webp"
    webp.parent.mkdir()
    cv2.imwrite(str(webp), cv2.imread(str(a)))
    before = a.read_bytes()
    engine = ["--engine", str(tiny_onnx["float"])]
    assert main([str(a), str(b), "--out", str(tmp_path / "o")] + engine) == 2
    assert "would both be written" in capsys.readouterr().err
    assert main([str(a), str(webp), "--out", str(tmp_path / "o")] + engine) == 2   # x.webp -> x.png too
    assert "would both be written" in capsys.readouterr().err
    assert main([str(tmp_path / "a"), "--out", str(tmp_path / "a")] + engine) == 2
    assert "would overwrite the input" in capsys.readouterr().err
    assert a.read_bytes() == before and not (tmp_path / "o").exists()
    # --suffix makes the in-place run safe; a second run needs --overwrite.
    assert main([str(tmp_path / "a"), "--out", str(tmp_path / "a"), "--suffix", "_clean"] + engine) == 0
    assert (tmp_path / "a" / "x_clean.png").is_file() and a.read_bytes() == before
    capsys.readouterr()
    assert main([str(a), "--out", str(tmp_path / "a"), "--suffix", "_clean"] + engine) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert main([str(a), "--out", str(tmp_path / "a"), "--suffix", "_clean", "--overwrite"] + engine) == 0


def test_skip_bad_images(tiny_onnx, tmp_path, capsys):
    from drn_edge.cli.derain import main

    _img(tmp_path / "in" / "good.png")
    (tmp_path / "in" / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)  # a PNG header, no image
    assert main([str(tmp_path / "in"), "--out", str(tmp_path / "o"), "--engine", str(tiny_onnx["float"]),
                 "--skip-bad"]) == 0
    out = capsys.readouterr().out
    assert "derained 1 frame" in out and "skipped 1 unreadable" in out


# ---------------------------------------------------------------- resources and trust
def test_deeply_nested_json_is_an_error_not_a_crash(tiny_onnx, tmp_path):
    from drn_edge.outputs import loads_bounded
    from drn_edge.sidecar import read_sidecar

    deep = "[" * 100000 + "]" * 100000
    with pytest.raises(ValueError, match="nests deeper"):
        loads_bounded(deep, "test")
    art = tmp_path / "m.onnx"
    art.write_bytes(b"x")
    (tmp_path / "m.onnx.json").write_text(deep)
    with pytest.raises(EngineError, match="not valid JSON"):
        read_sidecar(art)


def test_checkpoint_header_cannot_ask_for_huge_models(tmp_path):
    from safetensors.numpy import save_file

    from drn_edge.model.checkpoint import read_checkpoint

    block = {"growth": [8] * 100000, "out": 8}
    cfg = {"encoder": [block] * 3, "bottleneck": block, "decoder": [block] * 3}
    path = tmp_path / "huge.safetensors"
    save_file({"x": np.zeros(1, np.float32)}, str(path), metadata={"drn_config": json.dumps(cfg)})
    with pytest.raises(CheckpointError, match="out of bounds"):
        read_checkpoint(path)
    with pytest.raises(ConfigError, match="parameters"):
        from drn_edge.model.drn import BlockConfig, DRNConfig

        wide = BlockConfig((1024,) * 16, 1024)
        DRNConfig((wide,) * 3, wide, (wide,) * 3)


def test_pickle_suffix_check_ignores_case(tmp_path):
    from drn_edge.model.checkpoint import read_checkpoint

    p = tmp_path / "model.PT"
    p.write_bytes(b"\x80\x04K\x01.")
    with pytest.raises(CheckpointError, match="pickle"):
        read_checkpoint(p)


def test_max_pixels_guard(tiny_onnx):
    big = np.zeros((64, 80, 3), np.uint8)
    with DerainEngine(tiny_onnx["float"], max_pixels=64 * 64) as engine:
        with pytest.raises(ImageError, match="max_pixels=4,096"):
            engine(big)
    with DerainEngine(tiny_onnx["float"], max_pixels=None) as engine:
        assert engine(big).shape == big.shape


def test_external_data_onnx_is_refused(tiny_onnx, tmp_path):
    import onnx

    model = onnx.load(str(tiny_onnx["float"]))
    onnx.save_model(model, str(tmp_path / "ext.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no sidecar either
        with pytest.raises(EngineError, match="external data"):
            DerainEngine(tmp_path / "ext.onnx")


def test_missing_sidecar_warns_and_strict_refuses(tiny_onnx, tmp_path):
    import shutil

    bare = tmp_path / "bare.onnx"
    shutil.copy(tiny_onnx["float"], bare)
    with pytest.warns(UserWarning, match="no sidecar"):
        DerainEngine(bare).close()
    with pytest.raises(EngineError, match="no sidecar"):
        DerainEngine(bare, strict=True)


# ---------------------------------------------------------------- weak items: CLI errors instead of tracebacks
@pytest.mark.parametrize("args, message", [
    (["drn_edge.cli.train", "--out", "{tmp}/r", "--val-every", "0"], "--val-every"),
    (["drn_edge.cli.train", "--out", "{tmp}/r", "--lr", "nan"], "--lr must be a finite number above 0"),
    (["drn_edge.cli.train", "--out", "{tmp}/r", "--crop", "100000"], "--crop"),
    (["drn_edge.cli.export", "--preset", "../../etc/x"], "unknown preset"),
    (["drn_edge.cli.derain", "x.png", "--out", "{tmp}/o", "--max-frames", "-3"], "--max-frames must be at least 1"),
])
def test_cli_bad_values_get_an_error_line(args, message, tmp_path):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    res = subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True, timeout=120)
    assert res.returncode == 2 and message in res.stderr and "Traceback" not in res.stderr, res.stderr


def test_sigterm_leaves_no_partial_files_and_interrupted_exports_say_so(tiny_checkpoint, tiny_onnx, calib_dir, tmp_path):
    import os
    import shutil
    import signal
    import time

    # The signal comes at a known point: the export runs with the calibration reader's first feed held until the
    # signal (and the held step announced by a file), so the export can never finish before SIGTERM arrives.
    out, started = tmp_path / "run", tmp_path / "calibrating"
    held = ("import pathlib, sys, time\n"
            "from drn_edge.export.calibration import FrameCalibrationReader\n"
            "def held(self, i):\n"
            "    pathlib.Path(sys.argv[1]).touch()\n"
            "    time.sleep(600)\n"
            "FrameCalibrationReader.feed = held\n"
            "from drn_edge.cli.export import main\n"
            "sys.exit(main(sys.argv[2:]))\n")
    proc = subprocess.Popen([sys.executable, "-c", held, str(started), "--checkpoint", str(tiny_checkpoint),
                             "--out", str(out), "--int8", "--calib", str(calib_dir), "--calib-size", "64x96"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while not started.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    assert started.exists() and (out / "drn.onnx").exists(), proc.stderr.read().decode() if proc.poll() is not None else ""
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 130
    assert not list(out.glob("*.partial")) and not list(out.glob(".*.partial"))
    assert (out / ".drn-export-incomplete").exists()
    # An artifact of the interrupted folder, with another run's sidecar beside it: "did not finish", not "tampered".
    shutil.copy(tiny_onnx["float"], out / "other.onnx")
    shutil.copy(str(tiny_onnx["float"]) + ".json", out / "other.onnx.json")
    (out / "other.onnx").write_bytes((out / "other.onnx").read_bytes() + b"\0")
    with pytest.raises(EngineError, match="did not finish"):
        DerainEngine(out / "other.onnx")


def test_cli_size_error_names_the_cli_flag(tiny_onnx, tmp_path, capsys):
    from drn_edge.cli.derain import main

    img = _img(tmp_path / "in" / "x.png")  # 16x24, the engine is fixed 64x96
    assert main([str(img), "--engine", str(tiny_onnx["uint8_fixed"]), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "drn-derain --resize" in err and "--size 64x96" not in err and "--size 16x24" in err
    assert err.count("error:") == 1 and "--height" not in err


def test_a_video_of_another_size_names_the_size_not_unreadable_frames(tiny_onnx, tmp_path, capsys):
    from drn_edge.cli.derain import main
    from tests.runtime.test_derain_cli import _video

    src = _video(tmp_path / "v.mp4", frames=3, size=(48, 32))  # 32x48 frames, the engine is fixed 64x96 (HxW)
    assert main([str(src), "--engine", str(tiny_onnx["uint8_fixed"]), "--out", str(tmp_path / "o.mp4")]) == 2
    err = capsys.readouterr().err
    assert "built for 64x96" in err and "no readable frames" not in err and err.count("error:") == 1, err


def test_resize_letterboxes_instead_of_stretching(tiny_onnx):
    # A wide 32x96 frame into the 64x96 engine: letterboxed, content keeps its aspect ratio; a uniform
    # frame stays uniform, and the output has the input's size.
    frame = np.full((32, 96, 3), 120, np.uint8)
    frame[:, :48] = 30
    with DerainEngine(tiny_onnx["uint8_fixed"], resize=True) as engine:
        out = engine(frame)
    assert out.shape == frame.shape
    left, right = out[:, :40].astype(int).mean(), out[:, 56:].astype(int).mean()
    assert right - left > 40  # the left/right halves stay where they were: no vertical stretch smearing them


# ---------------------------------------------------------------- round 4, weaker findings
def test_a_folder_given_where_a_file_is_expected_is_called_a_folder(tmp_path, capsys):
    from drn_edge.cli.derain import main as derain
    from drn_edge.cli.inspect import main as inspect
    from drn_edge.detection.detector import load_class_names
    from drn_edge.imageio import read_rgb
    from drn_edge.model.checkpoint import load_checkpoint

    folder = tmp_path / "thing.safetensors"
    folder.mkdir()
    for call, error in ((lambda: load_checkpoint(folder), CheckpointError), (lambda: DerainEngine(folder), EngineError),
                        (lambda: read_rgb(folder), ImageError), (lambda: load_class_names(folder), Exception)):
        with pytest.raises(error, match="is a folder, not a file"):
            call()
    video = tmp_path / "clip.mp4"
    video.mkdir()
    assert derain([str(video), "--out", str(tmp_path / "o.mp4")]) == 2
    assert "video '" in (err := capsys.readouterr().err) and "is a folder, not a file" in err
    assert inspect([str(folder)]) == 2
    assert "is a folder, not a file" in capsys.readouterr().err


def test_a_float_graph_that_returns_0_to_255_is_named_not_clipped_in_silence(tmp_path, bgr, caplog):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("rainy", TensorProto.FLOAT, ["N", 3, "H", "W"])
    y = helper.make_tensor_value_info("derained", TensorProto.FLOAT, ["N", 3, "H", "W"])
    scale = numpy_helper.from_array(np.array(255.0, np.float32), "scale")
    node = helper.make_node("Mul", ["rainy", "scale"], ["derained"])
    graph = helper.make_graph([node], "times255", [x], [y], initializer=[scale])
    path = tmp_path / "times255.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # no sidecar: a user's own graph
        engine = DerainEngine(path)
    with engine, caplog.at_level("WARNING", logger="drn_edge.runtime"):
        engine(bgr)
        engine(bgr)
    said = [r.getMessage() for r in caplog.records if "must lie in [0, 1]" in r.getMessage()]
    assert len(said) == 1 and "returned values up to 2" in said[0]  # once, with the value found


def test_frozen_requests_refuse_a_single_string_where_a_list_belongs():
    from drn_edge.bench.requests import BenchRequest
    from drn_edge.errors import BenchError, DrnEdgeError, ExportError
    from drn_edge.export.request import ExportRequest
    from drn_edge.train.config import TrainConfig

    with pytest.raises(DrnEdgeError, match=r"--clean takes a list of values, got str 'frames'; for one item write \('frames',\)"):
        TrainConfig(clean="frames")  # was: trained on folders 'f', 'r', 'a', ...
    with pytest.raises(DrnEdgeError, match="--weights: 'x' is a str"):
        TrainConfig(weights=("x",))
    assert TrainConfig(clean=["a", "b"]).clean == ("a", "b")  # a list is taken, stored as a tuple
    with pytest.raises(ExportError, match="precisions takes a list"):
        ExportRequest(precisions="int8")
    with pytest.raises(BenchError, match="--engine takes a list"):
        BenchRequest(engines="drn.onnx")
