import json
import os
import signal
import subprocess
import sys
import time

import pytest

from drn_edge.cli.export import main as export_main
from drn_edge.runtime import DerainEngine
from drn_edge.sidecar import read_sidecar, verify_artifact


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_checkpoint, calib_dir):
    out = tmp_path_factory.mktemp("export")
    rc = export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--int8", "--fp16",
                      "--calib", str(calib_dir), "--calib-size", "64x96", "--calib-method", "minmax"])
    assert rc == 0
    return out


def test_int8_export_writes_artifacts_with_provenance(exported, tiny_checkpoint, calib_dir, capsys):
    for name in ("drn.onnx", "drn.fp16.onnx", "drn.int8.onnx"):
        rec = verify_artifact(exported / name)
        assert rec["kind"] == "onnx"
    fp32 = read_sidecar(exported / "drn.onnx")
    assert fp32["source"]["file"] == tiny_checkpoint.name and "parity_vs_pytorch" in fp32
    int8 = read_sidecar(exported / "drn.int8.onnx")
    assert int8["source"]["sha256"] == fp32["sha256"]
    from drn_edge.export.calibration import list_images

    assert int8["calibration"]["frames"] == len(list_images(calib_dir)) and len(int8["calibration"]["sha256"]) == 64
    assert int8["calibration"]["dir"] == calib_dir.name  # no absolute local path in a sidecar
    assert fp32["io"]["inputs"][0]["shape"] == [None, 3, None, None]
    for name in ("drn.onnx", "drn.int8.onnx"):
        with DerainEngine(exported / name) as e:
            assert e(__import__("numpy").zeros((40, 48, 3), "uint8")).shape == (40, 48, 3)


def test_report_and_plan_note_are_printed(tiny_checkpoint, tmp_path, capsys):
    rc = export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path), "--height", "64", "--width", "96",
                      "--io", "uint8"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "parity vs PyTorch" in out and "onnx-fp32" in out and "vs FP32" in out
    from drn_edge.export.tensorrt_plan import tensorrt_available

    if not tensorrt_available()[0]:
        assert "no TensorRT plan built" in out


def test_backend_tensorrt_without_tensorrt_fails_clearly(tiny_checkpoint, tmp_path, capsys):
    from drn_edge.export.tensorrt_plan import tensorrt_available

    if tensorrt_available()[0]:
        pytest.skip("TensorRT is available here")
    rc = export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path), "--backend", "tensorrt"])
    err = capsys.readouterr().err
    assert rc == 2 and "cannot build a plan" in err and "tensorrt" in err
    assert not list(tmp_path.glob("drn*"))  # failed before writing anything


def test_presets_and_bad_arguments(tiny_checkpoint, tmp_path, capsys):
    assert export_main(["--preset", "no-such-board"]) == 2
    assert "available: cpu, jetson-agx-orin" in capsys.readouterr().err
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--height", "100", "--width", "640"]) == 2
    assert "multiple of 8" in capsys.readouterr().err
    assert export_main(["--checkpoint", str(tmp_path / "missing.safetensors")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--int8", "--calib", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "holds no images" in capsys.readouterr().err


def test_every_preset_is_valid():
    from drn_edge.export.request import Preset, build_request, preset_names

    names = preset_names()
    assert {"jetson-orin-nano", "jetson-orin-nx", "jetson-agx-orin", "x86-gpu", "cpu"} <= set(names)
    for n in names:
        p = Preset.load(n)
        req, notes = build_request(p, {})
        assert p.precision in req.precisions and not notes


def test_stale_artifact_from_another_run_is_flagged(exported, tiny_checkpoint, tmp_path, capsys):
    import shutil

    out = tmp_path / "o"
    shutil.copytree(exported, out)
    # Re-export at a fixed size without --int8: the old drn.int8.onnx now belongs to another drn.onnx.
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--height", "64", "--width", "96",
                        "--no-fidelity"]) == 0
    assert "drn.int8.onnx is stale" in capsys.readouterr().out
    assert (out / "drn.int8.onnx").is_file()  # without --overwrite a user's file is flagged, never deleted
    # --overwrite replaces the folder's export: the old model's INT8 goes (drn-derain ran it in silence).
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--size", "64x96",
                        "--no-fidelity", "--overwrite"]) == 0
    assert "removed" in capsys.readouterr().out
    assert not (out / "drn.int8.onnx").exists() and not (out / "drn.int8.onnx.json").exists()
    assert (out / "drn.onnx").is_file()


@pytest.mark.slow
def test_prune_export_reloads(tiny_checkpoint, tmp_path):
    from drn_edge.model.checkpoint import load_checkpoint

    rc = export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path), "--prune", "0.5",
                      "--finetune-steps", "2", "--no-fidelity"])
    assert rc == 0
    model, info, _ = load_checkpoint(tmp_path / "drn.pruned.safetensors")
    assert info["prune"]["params_after"] < info["prune"]["params_before"]
    assert read_sidecar(tmp_path / "drn.onnx")["source"]["file"] == "drn.pruned.safetensors"


def test_sigkill_mid_export_leaves_no_truncated_artifact(tiny_checkpoint, calib_dir, tmp_path):
    # Kill drn-export at random points while it writes; whatever exists under a final name must be whole.
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    for delay in (1.5, 3.0):
        out = tmp_path / f"run{delay}"
        proc = subprocess.Popen([sys.executable, "-m", "drn_edge.cli.export", "--checkpoint", str(tiny_checkpoint),
                                 "--out", str(out), "--int8", "--fp16", "--calib", str(calib_dir), "--calib-size", "64x96",
                                 "--no-fidelity"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        for f in out.glob("drn*"):
            if f.suffix == ".json":
                json.loads(f.read_text())
            elif f.suffix == ".onnx":
                import onnx

                onnx.checker.check_model(onnx.load(str(f)))


def test_unwritable_output_folder_is_a_clear_error(tiny_checkpoint, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(blocker / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot write" in err and "is a file, not a folder" in err and "Traceback" not in err


def test_a_refused_export_leaves_no_folder(tiny_checkpoint, tmp_path, capsys):
    """Checks run before anything is created: no output folder, no incomplete-export marker (was: both left)."""
    out = tmp_path / "new_export"
    assert export_main(["--checkpoint", str(tmp_path / "missing.safetensors"), "--out", str(out)]) == 2
    assert not out.exists()
    # a foreign checkpoint's INT8 without --calib is refused at the calibration check, after the checkpoint check
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--int8", "--no-fidelity"]) == 2
    assert "needs calibration frames" in capsys.readouterr().err
    assert not out.exists()


def test_preset_request_is_printed_and_recorded(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "o"
    rc = export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--preset", "x86-gpu", "--size", "64x96", "--prune", "0.5",
                      "--finetune-steps", "2", "--threads", "1"])
    assert rc == 0
    text = capsys.readouterr().out
    # The effective request is printed before the work, with what overrode the preset.
    assert text.index("export request (after preset and flags)") < text.index("wrote ")
    assert "size        64x96" in text and "--size 64x96 overrides preset x86-gpu's 720x1280" in text
    assert "remove 50% of channels, then 2 fine-tune steps" in text
    # Fidelity against the unpruned source as well as the pruned model's own FP32.
    assert "source-fp32" in text and "vs source" in text
    rec = read_sidecar(out / "drn.onnx")
    assert rec["preset"] == "x86-gpu" and rec["pruning"]["ratio"] == 0.5 and rec["fidelity"]["drop_vs_source_db"] is not None
    # Next steps for the target: drn-export --onnx there, and the trtexec line with the input name and shapes.
    assert f"drn-export --onnx {out / 'drn.fp16.onnx'}" in text and " --fp16 " in text
    assert "trtexec --onnx=" in text and "--minShapes=frame_bgr:1x64x96x3" in text
    # ... all the way to benchmarking the plan and embedding it
    assert f"drn-bench --engine {out / 'drn.fp16.plan'}" in text and "DerainEngine(" in text


def test_size_flag_and_deprecated_aliases(tiny_checkpoint, tmp_path, capsys):
    rc = export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "a"), "--height", "64",
                      "--width", "96", "--no-fidelity"])
    assert rc == 0 and "--height/--width are deprecated" in capsys.readouterr().err
    assert read_sidecar(tmp_path / "a" / "drn.onnx")["spec"]["height"] == 64
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--size", "64x96", "--height", "64", "--width", "96"]) == 2
    assert "not both" in capsys.readouterr().err
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--size", "0x0"]) == 2
    assert "--size 0x0 is out of range" in capsys.readouterr().err
    for bad, message in ((["--size", "24000x24000"], "out of range"), (["--size", "8x65536"], "out of range"),
                         (["--size", "360x641"], "--size: the width must be a positive multiple of 8"),
                         (["--opset", "99"], "--opset must be between"),
                         (["--calib-size", "720x1280", "--int8", "--calib", str(tmp_path)], "calibration cap")):
        assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "b"), *bad]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
        assert not (tmp_path / "b" / "drn.onnx").exists()
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--max-batch", "-1"]) == 2
    assert "--max-batch must be between" in capsys.readouterr().err


def test_triton_with_onnx_needs_a_plan(exported, tmp_path, capsys):
    # Without TensorRT no plan can be built: --onnx --triton refuses with the reason instead of shipping an ONNX.
    assert export_main(["--onnx", str(exported / "drn.int8.onnx"), "--out", str(tmp_path / "p"), "--triton",
                        str(tmp_path / "repo")]) == 2
    assert "cannot build a TensorRT plan here" in capsys.readouterr().err and not (tmp_path / "repo").exists()


def test_int8_of_a_foreign_checkpoint_needs_calib_and_calib_options_need_calib(tiny_checkpoint, tmp_path, capsys):
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--int8", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "needs calibration frames: pass --calib DIR" in err and tiny_checkpoint.name in err
    assert not (tmp_path / "a" / "drn.onnx").exists()
    assert export_main(["--checkpoint", "drn_edge", "--int8", "--calib-method", "minmax", "--out", str(tmp_path / "b")]) == 2
    assert "--calib-method" in capsys.readouterr().err and not (tmp_path / "b" / "drn.onnx").exists()


def test_int8_of_a_shipped_checkpoint_uses_the_shipped_ranges(tmp_path, capsys):
    from drn_edge.artifacts import SHIPPED_EDGE_CHECKPOINT
    from drn_edge.outputs import sha256_file

    assert export_main(["--checkpoint", "drn_edge", "--int8", "--size", "64x96", "--no-fidelity", "--backend", "onnx",
                        "--out", str(tmp_path)]) == 0
    assert "shipped ranges of drn_edge" in capsys.readouterr().out
    cal = read_sidecar(tmp_path / "drn.int8.onnx")["calibration"]
    assert cal["checkpoint_sha256"] == sha256_file(SHIPPED_EDGE_CHECKPOINT) and cal["frames"] >= 24
    assert "/" not in json.dumps(cal.get("sources")).replace("\\/", "")  # folder names, no local paths
    with DerainEngine(tmp_path / "drn.int8.onnx") as e:
        assert e(__import__("numpy").zeros((64, 96, 3), "uint8")).shape == (64, 96, 3)


def test_calibration_frames_get_rain_unless_already_rainy(tiny_checkpoint, calib_dir, tmp_path, capsys):
    """INT8 ranges must describe what the engine sees: rainy frames (clean --calib frames lost 1.1 dB)."""
    from drn_edge.sidecar import read_sidecar

    for mode, expected in (("add", "drn_edge.rain.family drawn over the frames"), ("none", "none: the frames")):
        out = tmp_path / mode
        assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--int8", "--calib",
                            str(calib_dir), "--calib-rain", mode, "--no-fidelity", "--backend", "onnx"]) == 0
        assert read_sidecar(out / "drn.int8.onnx")["calibration"]["rain"].startswith(expected)
    assert "the project's rain drawn over the frames" in capsys.readouterr().out
