"""Reliability round 3: the red team's defects, each with the probe that found it (small frames, stand-in cameras)."""
import math
import os
import signal
import subprocess
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from drn_edge.errors import CheckpointError, FrameTimeout, ImageError
from drn_edge.runtime import DerainEngine


class _Camera:
    """A stand-in cv2.VideoCapture: `frames` of the given sizes, then end; optional hooks per frame."""

    def __init__(self, sizes, fps=15.0, count=None, on_read=None):
        self.sizes, self.i, self.fps, self.count, self.on_read = list(sizes), 0, fps, count, on_read

    def isOpened(self):
        return True

    def get(self, prop):
        if prop == cv2.CAP_PROP_FPS:
            return self.fps
        if prop == cv2.CAP_PROP_FRAME_COUNT:
            return self.count if self.count is not None else len(self.sizes)
        if prop == cv2.CAP_PROP_FOURCC:
            return cv2.VideoWriter_fourcc(*"mp4v")
        return 0.0

    def read(self):
        if self.on_read:
            self.on_read(self.i)
        if self.i >= len(self.sizes):
            return False, None
        h, w = self.sizes[self.i]
        self.i += 1
        return True, np.full((h, w, 3), (self.i * 7) % 255, np.uint8)

    def release(self):
        pass


def _frames_in(path) -> int:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    return n


def test_defect2_a_stuck_call_under_timeout_leaves_no_thread_that_blocks_exit():
    from drn_edge.runtime.deadline import Deadline

    release = threading.Event()
    d = Deadline(30)
    t0 = time.monotonic()
    with pytest.raises(FrameTimeout):
        d.run(release.wait, 30)  # a call stuck for 30 s
    assert time.monotonic() - t0 < 2 and d.abandoned == 1
    stuck = [t for t in threading.enumerate() if t.name == "drn-deadline"]
    assert stuck and all(t.daemon for t in stuck)  # the interpreter can exit past it
    release.set()


def test_defect2_engine_close_returns_after_a_stuck_call(tiny_onnx):
    release = threading.Event()
    e = DerainEngine(tiny_onnx["float"], timeout_ms=50, on_error="passthrough")
    real = e._backend.run
    e._backend.run = lambda x: (release.wait(30), real(x))[1]
    frame = np.zeros((32, 48, 3), np.uint8)
    assert np.array_equal(e(frame), frame) and e.stats.timeouts == 1
    t0 = time.monotonic()
    e.close()
    assert time.monotonic() - t0 < 2
    release.set()


def test_defect1_camera_recording_is_kept_on_interrupt(tiny_onnx, tmp_path, capsys):
    from drn_edge.runtime.apply import derain_video

    def interrupt(i):
        if i == 20:
            os.kill(os.getpid(), signal.SIGINT)  # Ctrl-C, delivered to the main thread
        time.sleep(0.005)

    out = tmp_path / "rec.mp4"
    with DerainEngine(tiny_onnx["float"]) as e:
        n = derain_video(e, _Camera([(32, 48)] * 400, on_read=interrupt), out, False, False, None, "camera 0",
                         live=True)
    assert 0 < n < 400 and _frames_in(out) == n
    assert "stopped by an interrupt" in capsys.readouterr().err
    assert not list(tmp_path.glob(".*partial*"))


def test_defect1_a_video_file_interrupted_keeps_nothing(tiny_onnx, tmp_path):
    from drn_edge.runtime.apply import derain_video

    def interrupt(i):
        if i == 5:
            os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.005)

    out = tmp_path / "clip.mp4"
    with DerainEngine(tiny_onnx["float"]) as e, pytest.raises(KeyboardInterrupt):
        derain_video(e, _Camera([(32, 48)] * 400, on_read=interrupt), out, False, False, None, "video 'x'")
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))


def test_defect7_a_frame_size_change_is_an_error_not_silently_dropped_frames(tiny_onnx, tmp_path):
    from drn_edge.runtime.apply import derain_video

    out = tmp_path / "v.mp4"
    with DerainEngine(tiny_onnx["float"]) as e, pytest.raises(ImageError, match="frame 6 .* is 40x64 but the video began"):
        derain_video(e, _Camera([(32, 48)] * 5 + [(40, 64)] * 5), out, False, False, None, "video 'x'")
    assert not out.exists() and not list(tmp_path.glob(".*partial*"))


def test_defect16_inf_and_nan_capture_properties_are_replaced(capsys):
    from drn_edge.runtime.apply import capture_rate_and_count

    assert capture_rate_and_count(_Camera([], fps=math.inf, count=math.nan), "camera 0") == (30.0, None)
    assert "frame rate of inf" in capsys.readouterr().err
    assert capture_rate_and_count(_Camera([], fps=25.0, count=100), "v") == (25.0, 100)


def test_defect6_a_temp_name_is_never_an_input(tiny_onnx, tmp_path):
    from drn_edge.cli.derain import main
    from tests.runtime.test_derain_cli import _video

    src = _video(tmp_path / ".clean.partial.mp4", frames=4)  # the old predictable temp name of clean.mp4
    data = src.read_bytes()
    assert main([str(src), "--engine", str(tiny_onnx["float"]), "--out", str(tmp_path / "clean.mp4")]) == 0
    assert src.read_bytes() == data and _frames_in(tmp_path / "clean.mp4") == 4


def test_defect9_each_frame_of_a_batch_keeps_its_dtype(tiny_onnx):
    with DerainEngine(tiny_onnx["float"]) as e:
        u8 = np.full((32, 48, 3), 100, np.uint8)
        f32 = np.full((32, 48, 3), 0.4, np.float32)
        a, b = e([u8, f32])
        assert a.dtype == np.uint8 and b.dtype == np.float32 and 0 <= b.min() and b.max() <= 1


def test_defect4_nan_checkpoints_are_refused_everywhere(tiny_model, tmp_path):
    import torch

    from drn_edge.model.checkpoint import load_checkpoint, save_checkpoint

    bad = __import__("copy").deepcopy(tiny_model)
    with torch.no_grad():
        bad.head.weight[0, 0, 0, 0] = float("nan")
    path = save_checkpoint(bad, tmp_path / "nan.safetensors")
    with pytest.raises(CheckpointError, match="NaN or infinite weights"):
        load_checkpoint(path)
    for cli in (["drn_edge.cli.evaluate", "--checkpoint", str(path), "--sizes", "64x96"],
                ["drn_edge.cli.prune", "--checkpoint", str(path), "--ratio", "0.3", "--out", str(tmp_path / "p.safetensors")],
                ["drn_edge.cli.train", "--init", str(path), "--out", str(tmp_path / "t"), "--steps", "1"]):
        res = subprocess.run([sys.executable, "-m", *cli], capture_output=True, text=True, timeout=300)
        assert res.returncode == 2 and "NaN or infinite weights" in res.stderr and "Traceback" not in res.stderr, res.stderr


def test_defect4_a_diverging_run_saves_no_nan_weights(tmp_path):
    from drn_edge.model.checkpoint import load_checkpoint
    from drn_edge.train.loop import TrainConfig, TrainingDiverged, train

    cfg = TrainConfig(out=str(tmp_path), model="drn_tiny", steps=6, batch=2, crop=32, val_every=100, save_every=1,
                      warmup=1, lr=1e8)
    with pytest.raises(TrainingDiverged, match="lower --lr"):
        train(cfg, progress=False)
    last = tmp_path / "last.safetensors"
    if last.exists():
        load_checkpoint(last)  # whatever was saved is finite (load refuses NaN)


def test_defect18_a_tampered_step_is_one_clear_error(tiny_model, tmp_path):
    from drn_edge.model.checkpoint import save_checkpoint
    from drn_edge.train.loop import TrainConfig, train

    save_checkpoint(tiny_model, tmp_path / "last.safetensors", {"step": "lots", "history": {"x": 1}})
    cfg = TrainConfig(out=str(tmp_path), model="drn_tiny", steps=4, batch=2, crop=32, resume=True)
    with pytest.raises(CheckpointError, match="records step 'lots'"):
        train(cfg, progress=False)


def test_defect15_name_rain_name_clean_pairs_are_found(tmp_path):
    from drn_edge.imageio import find_pairs

    for n in ("a", "b"):
        cv2.imwrite(str(tmp_path / f"{n}_rain.png"), np.zeros((8, 8, 3), np.uint8))
        cv2.imwrite(str(tmp_path / f"{n}_clean.png"), np.zeros((8, 8, 3), np.uint8))
    assert [p[0] for p in find_pairs(tmp_path)] == ["a", "b"]


def test_defect3_reports_never_replace_what_the_run_reads(tiny_onnx, tmp_path, capsys):
    import shutil

    from drn_edge.cli.bench import main as bench_main
    from drn_edge.cli.evaluate import main as eval_main

    engine = tmp_path / "drn.onnx"
    shutil.copy(tiny_onnx["float"], engine)
    shutil.copy(str(tiny_onnx["float"]) + ".json", str(engine) + ".json")
    sidecar = (tmp_path / "drn.onnx.json").read_bytes()
    frames = tmp_path / "frames"
    frames.mkdir()
    cv2.imwrite(str(frames / "0.png"), np.zeros((32, 48, 3), np.uint8))
    base = ["--engine", str(engine), "--no-pytorch", "--frames", "1", "--warmup", "0", "--warmup-seconds", "0"]
    for flags, what in ((["--json", str(engine) + ".json"], "sidecar"), (["--markdown", str(engine)], "is an input"),
                        (["--eval", str(frames), "--grid", str(frames / "0.png")], "inside the input folder"),
                        (["--json", str(tmp_path / "r"), "--markdown", str(tmp_path / "r")], "both write")):
        assert bench_main(base + flags) == 2
        assert what in capsys.readouterr().err
    assert eval_main(["--engine", str(engine), "--json", str(engine)]) == 2 and "is an input" in capsys.readouterr().err
    assert (tmp_path / "drn.onnx.json").read_bytes() == sidecar and (frames / "0.png").stat().st_size > 0


def test_defect13_latency_only_needs_no_reference_checkpoint(tiny_checkpoint, tmp_path, capsys):
    import shutil

    from drn_edge.cli.bench import main as bench_main
    from drn_edge.cli.export import main as export_main

    ckpt = tmp_path / "mine.safetensors"
    shutil.copy(tiny_checkpoint, ckpt)
    assert export_main(["--checkpoint", str(ckpt), "--out", str(tmp_path / "e"), "--no-fidelity"]) == 0
    ckpt.unlink()  # the engine's checkpoint is gone: no FP32 reference can be found
    engine = str(tmp_path / "e" / "drn.onnx")
    assert bench_main(["--engine", engine, "--frames", "1", "--warmup", "0", "--warmup-seconds", "0"]) == 2
    assert "--no-pytorch --no-fidelity" in capsys.readouterr().err
    assert bench_main(["--engine", engine, "--no-pytorch", "--no-fidelity", "--frames", "1", "--warmup", "0",
                       "--warmup-seconds", "0", "--size", "32x48"]) == 0


def test_defect12_triton_config_comes_from_the_graph_and_refuses_injection(tiny_onnx, tmp_path):
    import json
    import shutil

    from drn_edge.errors import ExportError
    from drn_edge.export.triton import model_config, write_model_repository
    from drn_edge.sidecar import sha256_file

    onnx_path = tmp_path / "drn.onnx"
    shutil.copy(tiny_onnx["float"], onnx_path)
    rec = json.loads(open(str(tiny_onnx["float"]) + ".json").read())
    rec["io"]["inputs"][0]["name"] = 'x" } ] output [ { name: "evil'  # a lying sidecar
    rec["sha256"] = sha256_file(onnx_path)
    (tmp_path / "drn.onnx.json").write_text(json.dumps(rec))
    repo = write_model_repository(onnx_path, tmp_path / "repo", gpu=False)
    config = (repo / "drn" / "config.pbtxt").read_text()
    assert 'name: "rainy"' in config and "evil" not in config  # names read from the ONNX graph itself
    with pytest.raises(ExportError, match="not a plain name"):
        model_config(rec)
    rec["kind"] = "tensorrt-plan"
    (tmp_path / "drn.onnx.json").write_text(json.dumps(rec))
    with pytest.raises(ExportError, match="says kind 'tensorrt-plan'"):
        write_model_repository(onnx_path, tmp_path / "repo2")
    with pytest.raises(ExportError, match="malformed"):
        model_config({"io": {"inputs": []}})


def test_defect17_a_config_that_needs_gigabytes_of_activations_is_refused():
    from drn_edge.errors import ConfigError
    from drn_edge.model.drn import BlockConfig, DRNConfig, drn_base

    cfg = drn_base().cfg  # two 400-wide convs at full resolution: ~1 M parameters, ~3 GB per 720p frame
    with pytest.raises(ConfigError, match="channels of activations per input pixel"):
        DRNConfig(encoder=(BlockConfig(growth=(400,) * 2, out=cfg.encoder[0].out), *cfg.encoder[1:]),
                  bottleneck=cfg.bottleneck, decoder=cfg.decoder)
    assert cfg.activation_estimate() < 100  # the shipped model is far inside


def test_defect6_a_planted_marker_symlink_is_not_followed(tiny_checkpoint, tmp_path):
    from drn_edge.cli.export import main as export_main

    out = tmp_path / "e"
    out.mkdir()
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (out / ".drn-export-incomplete").symlink_to(victim)
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--no-fidelity", "--backend", "onnx"]) == 0
    assert victim.read_text() == "keep me"


def test_defect19_triton_into_a_file_is_one_error(tiny_checkpoint, tmp_path, capsys):
    from drn_edge.cli.export import main as export_main

    (tmp_path / "f").write_text("x")
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "e"), "--triton",
                        str(tmp_path / "f")]) == 2
    assert "is a file; give a folder" in capsys.readouterr().err and not (tmp_path / "e" / "drn.onnx").exists()


def test_every_cli_output_goes_through_the_one_planner(tiny_onnx, tmp_path, capsys):
    """#22: one planner for every output of every CLI: a symbolic link is never written through, an input is never
    an output (drn-train --init inside --out, drn-prune --out over --checkpoint, drn-derain over its input video)."""
    from drn_edge.cli.bench import main as bench
    from drn_edge.cli.derain import main as derain
    from drn_edge.cli.prune import main as prune
    from drn_edge.cli.train import main as train
    from drn_edge.model.checkpoint import save_checkpoint
    from drn_edge.model.drn import drn_tiny

    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "report.json"
    link.symlink_to(victim)
    assert bench(["--engine", str(tiny_onnx["float"]), "--json", str(link), "--no-pytorch", "--no-fidelity"]) == 2
    assert "symbolic link" in capsys.readouterr().err and victim.read_text() == "keep me"

    out = tmp_path / "run"
    out.mkdir()
    ckpt = save_checkpoint(drn_tiny(), out / "last.safetensors")
    assert train(["--out", str(out), "--model", "drn_tiny", "--init", str(ckpt), "--overwrite", "--steps", "1"]) == 2
    assert "is an input of this run" in capsys.readouterr().err and ckpt.is_file()

    assert prune(["--checkpoint", str(ckpt), "--out", str(ckpt), "--overwrite", "--ratio", "0.2"]) == 2
    assert "is an input of this run" in capsys.readouterr().err

    img = tmp_path / "in.png"
    cv2.imwrite(str(img), np.zeros((16, 16, 3), np.uint8))
    outdir = tmp_path / "o"
    outdir.mkdir()
    (outdir / "in.png").symlink_to(victim)
    assert derain([str(img), "--out", str(outdir), "--engine", str(tiny_onnx["float"]), "--overwrite"]) == 2
    assert "symbolic link" in capsys.readouterr().err and victim.read_text() == "keep me"
