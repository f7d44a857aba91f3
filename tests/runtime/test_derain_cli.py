import cv2
import numpy as np
import pytest

from drn_edge.cli.derain import main


def _video(path, frames=12, fps=15.0, size=(96, 64)):
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    rng = np.random.default_rng(0)
    for _ in range(frames):
        w.write(rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8))
    w.release()
    return path


def test_video_in_video_out_same_frame_count_and_fps(tiny_onnx, tmp_path, capsys):
    src = _video(tmp_path / "rainy.mp4")
    out = tmp_path / "clean.mp4"
    assert main([str(src), "--engine", str(tiny_onnx["float"]), "--out", str(out)]) == 0
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 12 and abs(cap.get(cv2.CAP_PROP_FPS) - 15.0) < 0.01
    assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 96
    assert "derained 12 frame(s)" in capsys.readouterr().out
    assert not list(tmp_path.glob(".*partial*"))


def test_side_by_side_with_rain_panel(tiny_onnx, tmp_path):
    src = _video(tmp_path / "rainy.mp4", frames=3)
    out = tmp_path / "sbs.avi"
    assert main([str(src), "--engine", str(tiny_onnx["float"]), "--out", str(out), "--side-by-side", "--show-rain"]) == 0
    cap = cv2.VideoCapture(str(out))
    assert int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 3 * 96


def test_images_and_folders(tiny_onnx, tmp_path, frame_rgb):
    d = tmp_path / "in"
    d.mkdir()
    cv2.imwrite(str(d / "a.png"), frame_rgb)
    cv2.imwrite(str(d / "b.jpg"), frame_rgb[:40, :50])
    assert main([str(d), "--engine", str(tiny_onnx["float"]), "--out", str(tmp_path / "out")]) == 0
    a = cv2.imread(str(tmp_path / "out" / "a.png"))
    assert a.shape == frame_rgb.shape and cv2.imread(str(tmp_path / "out" / "b.jpg")).shape == (40, 50, 3)


@pytest.mark.parametrize("args,match", [
    (["missing.png"], "does not exist"),
    ([], "give image/video inputs"),
])
def test_bad_inputs(tiny_onnx, tmp_path, capsys, args, match):
    assert main(args + ["--engine", str(tiny_onnx["float"]), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err


def test_undecodable_image_and_missing_engine(tiny_onnx, tmp_path, capsys):
    bad = tmp_path / "x.png"
    bad.write_bytes(b"nope")
    assert main([str(bad), "--engine", str(tiny_onnx["float"]), "--out", str(tmp_path / "o")]) == 2
    assert "cannot decode image" in capsys.readouterr().err
    assert main([str(bad), "--engine", str(tmp_path / "none.onnx"), "--out", str(tmp_path / "o")]) == 2
    assert "drn-export" in capsys.readouterr().err


def test_camera_that_cannot_open(tiny_onnx, tmp_path, capsys):
    assert main(["--camera", "97", "--engine", str(tiny_onnx["float"]), "--out", str(tmp_path / "c.mp4"), "--max-frames", "2"]) == 2
    assert "cannot open camera or stream 97" in capsys.readouterr().err


def test_policy_is_for_cameras_only(tiny_onnx, tmp_path, capsys):
    src = _video(tmp_path / "rainy.mp4", frames=2)
    assert main([str(src), "--engine", str(tiny_onnx["float"]), "--out", str(tmp_path / "o.mp4"), "--policy",
                 "passthrough"]) == 2
    assert "--policy applies to a camera or stream only" in capsys.readouterr().err
    assert not (tmp_path / "o.mp4").exists()


def test_live_sources_are_recognised_and_a_dead_url_is_one_error(tiny_onnx, tmp_path, capsys):
    from drn_edge.runtime.sources import is_live_source

    for s in ("0", "/dev/video0", "rtsp://127.0.0.1:8554/cam", "https://x/y.m3u8",
              "v4l2src ! videoconvert ! appsink"):
        assert is_live_source(s), s
    assert not is_live_source(str(tmp_path)) and not is_live_source("clip.mp4")
    # A URL nothing serves (a closed loopback port): one error naming the URL intact, no "does not exist".
    rc = main(["rtsp://127.0.0.1:9/cam", "--engine", str(tiny_onnx["float"]), "--out", str(tmp_path / "o.mp4"),
               "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "rtsp://127.0.0.1:9/cam" in err and "does not exist" not in err and err.count("error:") == 1


def test_summary_line_has_frames_and_ms_per_frame(tiny_onnx, tmp_path, capsys):
    src = _video(tmp_path / "rainy.mp4", frames=3)
    assert main([str(src), "--engine", str(tiny_onnx["float"]), "--out", str(tmp_path / "c.mp4"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "derained 3 frame(s)" in out and "ms per frame" in out


def test_an_image_over_the_pixel_limit_is_refused_from_its_header_before_decoding(tiny_onnx, tmp_path, capsys,
                                                                                   monkeypatch):
    small, big = tmp_path / "in" / "a.png", tmp_path / "in" / "b.png"
    small.parent.mkdir()
    cv2.imwrite(str(small), np.full((48, 64, 3), 90, np.uint8))
    cv2.imwrite(str(big), np.zeros((1200, 1000, 3), np.uint8))  # 1.2 MP declared, a few KiB on disk
    decoded = []
    real_imread = cv2.imread
    monkeypatch.setattr(cv2, "imread", lambda path, *a: decoded.append(path) or real_imread(path, *a))
    args = ["--engine", str(tiny_onnx["float"]), str(small.parent), "--out", str(tmp_path / "out"), "--max-pixels", "1000000"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "b.png' is 1200x1000 (HxW), more than --max-pixels 1,000,000" in err and "nothing was written" in err
    assert decoded == [] and not (tmp_path / "out").exists()
    assert main(args + ["--skip-bad"]) == 0  # skipped and listed, the small one derained
    assert (tmp_path / "out" / "a.png").is_file() and not (tmp_path / "out" / "b.png").exists()
    assert str(small) in decoded and str(big) not in decoded
