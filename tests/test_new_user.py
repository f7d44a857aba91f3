"""The new-user round (#23): what a first user of each command meets, repeated as tests."""
import cv2
import numpy as np
import pytest

from drn_edge.runtime import DerainEngine
from tests.test_reliability3 import _frames_in


def test_new_user_engine_warns_at_load_when_a_frame_exceeds_timeout_ms(tiny_onnx, caplog):
    import logging

    with caplog.at_level(logging.WARNING, logger="drn_edge.runtime.engine"):
        with DerainEngine(tiny_onnx["float"], timeout_ms=0.001, on_error="passthrough") as e:
            assert e.probe_ms is not None and e.probe_ms > 0.001
    assert sum("more than timeout_ms=0.001" in r.getMessage() for r in caplog.records) == 1
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="drn_edge.runtime.engine"):
        with DerainEngine(tiny_onnx["float"], timeout_ms=60000):
            pass
    assert not any("timeout_ms" in r.getMessage() for r in caplog.records)


def test_new_user_export_into_another_models_folder_needs_overwrite(tiny_checkpoint, tmp_path, capsys):
    from drn_edge.cli.export import main as export_main

    out = str(tmp_path / "e")
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", out, "--no-fidelity", "--backend", "onnx"]) == 0
    before = (tmp_path / "e" / "drn.onnx").read_bytes()
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", out, "--no-fidelity", "--backend", "onnx"]) == 0
    assert export_main(["--checkpoint", "drn_edge", "--out", out, "--no-fidelity", "--backend", "onnx"]) == 2
    assert "export of another model" in capsys.readouterr().err
    assert (tmp_path / "e" / "drn.onnx").read_bytes() == before
    assert export_main(["--checkpoint", "drn_edge", "--out", out, "--no-fidelity", "--backend", "onnx",
                        "--overwrite", "--size", "64x96"]) == 0


def test_new_user_training_on_own_data_fine_tunes_the_shipped_model(tmp_path, capsys):
    from drn_edge.cli.train import main as train_main

    clean = tmp_path / "clean"
    clean.mkdir()
    cv2.imwrite(str(clean / "a.png"), np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8))
    rc = train_main(["--out", str(tmp_path / "r"), "--clean", str(clean), "--steps", "1", "--batch", "1", "--crop",
                     "32", "--val-every", "1", "--no-progress", "--no-default-data", "--val-side", "64"])
    out = capsys.readouterr().out
    assert rc == 0 and "fine-tuning from the shipped drn_base" in out
    assert "training data: clean:" in out and "(1 frames, 100 %)" in out and "photos 64px" in out


def test_new_user_drn_rain_makes_seeded_rainy_copies_and_clips(tmp_path, capsys):
    from drn_edge.cli.rain import main as rain_main
    from tests.runtime.test_derain_cli import _video

    clean = tmp_path / "clean"
    clean.mkdir()
    img = np.full((48, 64, 3), 90, np.uint8)
    cv2.imwrite(str(clean / "a.png"), img)
    assert rain_main([str(clean), "--out", str(tmp_path / "r1"), "--level", "high", "--seed", "4"]) == 0
    assert rain_main([str(clean), "--out", str(tmp_path / "r2"), "--level", "high", "--seed", "4"]) == 0
    a, b = cv2.imread(str(tmp_path / "r1" / "a.png")), cv2.imread(str(tmp_path / "r2" / "a.png"))
    assert np.array_equal(a, b) and not np.array_equal(a, img)  # same seed, same rain; rain was drawn
    src = _video(tmp_path / "c.mp4", frames=5)
    assert rain_main([str(src), "--out", str(tmp_path / "rainy.mp4"), "--generator", "windshield"]) == 0
    assert _frames_in(tmp_path / "rainy.mp4") == 5
    assert rain_main([str(src), "--out", str(src)]) == 2  # never over its input


def test_new_user_drn_inspect_prints_a_checked_summary(tiny_onnx, tmp_path, capsys):
    import shutil

    from drn_edge.cli.inspect import main as inspect_main

    assert inspect_main([str(tiny_onnx["uint8_fixed"])]) == 0
    out = capsys.readouterr().out
    assert "matches the file" in out and "frame_bgr uint8 [None, 64, 96, 3]" in out and "computes in fp32" in out
    bad = tmp_path / "drn.onnx"
    shutil.copy(tiny_onnx["float"], bad)
    shutil.copy(str(tiny_onnx["float"]) + ".json", str(bad) + ".json")
    bad.write_bytes(bad.read_bytes() + b"\0")
    assert inspect_main([str(bad)]) == 2 and "does not match its sidecar" in capsys.readouterr().err


def test_new_user_side_by_side_panels_are_labelled_and_signed():
    from drn_edge.runtime.apply import panel

    frame = np.full((40, 60, 3), 100, np.uint8)
    out = frame.copy()
    out[:, :30] = 90    # removed (darker output): brighter than grey in the third panel
    out[:, 30:] = 110   # brightened: darker than grey, which clip(in - out) could not show
    p = panel(frame, out, show_rain=True)
    assert p.shape == (40, 180, 3)
    third = p[30:, 120:]
    assert third[:, :30].mean() > 140 and third[:, 30:].mean() < 116
    assert (p[:20, :60] != 100).any()  # a label is drawn on the input panel


def test_new_user_triton_without_a_plan_packs_fp32():
    from drn_edge.export.triton import best_artifact

    assert best_artifact({"fp32": "a", "int8": "b"}) == "a"
    assert best_artifact({"fp32": "a", "int8": "b", "plan-int8": "c"}) == "c"


def test_new_user_new_commands_fail_in_one_line(tmp_path, capsys, monkeypatch):
    import builtins

    from drn_edge.cli.inspect import main as inspect_main
    from drn_edge.cli.rain import main as rain_main
    from drn_edge.detection.check import coco_ap
    from drn_edge.detection.detector import Detections, DetectorError

    assert inspect_main([str(tmp_path / "nope.onnx")]) == 2
    assert capsys.readouterr().err == f"error: '{tmp_path / 'nope.onnx'}' does not exist\n"
    assert rain_main([str(tmp_path), "--out", str(tmp_path / "o"), "--seed", "-1"]) == 2
    assert "--seed must be >= 0" in capsys.readouterr().err
    assert rain_main([str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "o.mp4")]) == 2
    assert "does not exist" in capsys.readouterr().err
    real_import = builtins.__import__

    def no_pycocotools(name, *a, **k):
        if name.startswith("pycocotools"):
            raise ImportError(name)
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_pycocotools)
    box = Detections(np.array([[0, 0, 4, 4]], np.float32), np.ones(1, np.float32), np.zeros(1, np.int64))
    with pytest.raises(DetectorError, match=r"needs pycocotools: pip install 'drn-edge\[bench\]'"):
        coco_ap([box], [box])


def test_drn_bench_video_takes_a_live_source(tiny_onnx, capsys):
    """#23: drn-bench video accepts what drn-derain accepts; a camera that is not there is one clear line."""
    from drn_edge.cli.bench import main

    assert main(["video", "/dev/video99", "--engine", str(tiny_onnx["float"]), "--no-pytorch", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cannot open camera or stream '/dev/video99'" in err and "does not exist" not in err


def test_a_missing_sidecar_is_one_warning_line_and_no_progress_is_honoured(tiny_onnx, tmp_path, capsys):
    """The missing-sidecar warning printed raw Python source lines; --no-progress was ignored for image folders."""
    import shutil

    import numpy as np

    from drn_edge.cli.derain import main as derain_main
    from drn_edge.imageio import write_image

    bare = tmp_path / "bare.onnx"
    shutil.copyfile(tiny_onnx["float"], bare)  # no sidecar beside it
    (tmp_path / "in").mkdir()
    write_image(tmp_path / "in" / "a.png", np.full((32, 48, 3), 90, np.uint8))
    assert derain_main([str(tmp_path / "in"), "--engine", str(bare), "--out", str(tmp_path / "out"),
                        "--no-progress"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and lines[0].startswith("warning: ") and "has no sidecar" in lines[0]
    assert not any("warnings.warn" in line or "UserWarning" in line for line in lines)
    assert "derain:" not in err  # no progress bar
