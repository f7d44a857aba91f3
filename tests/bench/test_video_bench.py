"""drn-bench --video and --streams, and drn-derain from a live source, end to end on real ONNX Runtime sessions."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from drn_edge.cli.bench import main

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def _clean_clip(path, frames=6, size=(128, 96)):
    w, h = size
    rng = np.random.default_rng(0)
    scene = cv2.GaussianBlur(rng.integers(0, 255, (h + 20, w + 40, 3), dtype=np.uint8), (0, 0), 3)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (w, h))
    for t in range(frames):
        writer.write(np.ascontiguousarray(scene[10:10 + h, 3 * t:3 * t + w]))
    writer.release()
    return path


def test_video_bench_reports_flicker_and_writes_video_plot_and_stills(tiny_onnx, tmp_path, capsys):
    clip = _clean_clip(tmp_path / "clean.mp4")
    out = {k: tmp_path / f"v.{k}" for k in ("json", "md", "png", "jpg", "mp4")}
    rc = main(["video", str(clip), "--frames", "5", "--engine", str(tiny_onnx["float"]), "--no-pytorch",
               "--size", "96x128", "--no-progress", "--json", str(out["json"]), "--markdown", str(out["md"]),
               "--plot", str(out["png"]), "--grid", str(out["jpg"]), "--side-by-side", str(out["mp4"])])
    assert rc == 0
    text = capsys.readouterr().out
    assert "warp err" in text and "clean clip (floor)" in text
    report = json.loads(out["json"].read_text())
    assert report["frames"] == 5 and [r["label"] for r in report["rows"]][0] == "rainy input"
    rainy, engine = report["rows"][0], report["rows"][1]
    assert len(engine["per_frame"]["psnr"]) == 5 and engine["per_frame"]["warp_error"][0] is None
    assert rainy["warp_error"] > report["clean_warp_error"]  # moving rain flickers
    assert abs(engine["flicker_excess"] - (engine["warp_error"] - report["clean_warp_error"])) < 1e-9
    cap = cv2.VideoCapture(str(out["mp4"]))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == 5 and int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)) == 3 * 128
    assert cv2.imread(str(out["jpg"])) is not None and out["png"].stat().st_size > 1000
    assert "Lai et al" in out["md"].read_text()


def test_video_bench_refuses_bad_requests(tiny_onnx, tmp_path, capsys):
    assert main(["video", str(tmp_path / "none.mp4"), "--engine", str(tiny_onnx["float"]), "--no-pytorch"]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # --side-by-side is the video benchmark's: argparse refuses it elsewhere
        main(["--engine", str(tiny_onnx["float"]), "--side-by-side", str(tmp_path / "x.mp4")])
    assert "unrecognized arguments: --side-by-side" in capsys.readouterr().err
    assert main(["--video", "x.mp4", "--streams", "2", "--engine", str(tiny_onnx["float"])]) == 2
    assert "one at a time" in capsys.readouterr().err


def test_old_mode_switches_still_work_for_one_release_with_a_note(tiny_onnx, tmp_path, capsys):
    from drn_edge.cli.bench import translate_legacy

    assert translate_legacy(["--engine", "e.onnx"]) == ["frames", "--engine", "e.onnx"]
    assert capsys.readouterr().err == ""  # frames is the default: no note
    assert translate_legacy(["--video=c.mp4", "--video-frames", "9", "--engine", "e"]) == \
        ["video", "c.mp4", "--frames", "9", "--engine", "e"]
    assert "drn-bench --video is deprecated" in capsys.readouterr().err
    assert translate_legacy(["--streams", "3", "--fps", "15"]) == ["streams", "--cameras", "3", "--fps", "15"]
    assert "run: drn-bench streams --cameras 3 --fps 15" in capsys.readouterr().err
    clip = _clean_clip(tmp_path / "clean.mp4", frames=3)
    rc = main(["--video", str(clip), "--video-frames", "3", "--engine", str(tiny_onnx["float"]), "--no-pytorch",
               "--no-progress", "--size", "96x128"])
    assert rc == 0 and "deprecated" in capsys.readouterr().err


def test_streams_bench_counts_every_frame(tiny_onnx, tmp_path, capsys):
    js, md = tmp_path / "s.json", tmp_path / "s.md"
    rc = main(["streams", "--cameras", "3", "--fps", "15", "--seconds", "1", "--engine", str(tiny_onnx["float"]), "--size", "48x64",
               "--no-progress", "--json", str(js), "--markdown", str(md), "--plot", str(tmp_path / "s.png")])
    assert rc == 0
    report = json.loads(js.read_text())
    assert report["settings"]["streams"] == 3 and len(report["streams"]) == 3 and "samples" not in report
    for s in report["streams"]:
        assert s["frames_in"] == 15 and s["frames_in"] == s["frames_out"] + s["dropped"] and s["in_flight"] == 0
        assert s["latency_ms"]["min"] <= s["latency_ms"]["median"] <= s["latency_ms"]["max"]
    assert "cam2" in capsys.readouterr().out and "| cam0 |" in md.read_text()
    assert main(["streams", "--cameras", "2", "--engine", str(tiny_onnx["float"]), "--engine", str(tiny_onnx["uint8_fixed"])]) == 2
    assert "one engine at a time" in capsys.readouterr().err


class FakeCamera:
    """A live camera: read() hands out frames as fast as asked; the engine cannot keep up."""

    def __init__(self, frames):
        self.frames, self.i = frames, 0

    def isOpened(self):
        return True

    def get(self, prop):
        return {cv2.CAP_PROP_FPS: 30.0}.get(prop, 0)

    def read(self):
        if self.i >= len(self.frames):
            return False, None
        self.i += 1
        return True, self.frames[self.i - 1]

    def release(self):
        pass


def test_live_video_drops_oldest_and_says_so(tiny_onnx, tmp_path, capsys):
    from drn_edge.runtime import DerainEngine
    from drn_edge.runtime.apply import derain_video

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (64, 96, 3), dtype=np.uint8) for _ in range(200)]
    with DerainEngine(tiny_onnx["float"]) as engine:
        n = derain_video(engine, FakeCamera(frames), tmp_path / "live.mp4", False, False, None, "camera 0", live=True)
    assert 0 < n < 200 and (tmp_path / "live.mp4").is_file()
    assert f"{200 - n} frame(s) dropped" in capsys.readouterr().err


def test_engines_of_the_same_file_name_are_told_apart_by_folder(tiny_onnx, tmp_path):
    import shutil

    from drn_edge.bench.candidates import engine_candidates

    paths = []
    for folder in ("drn_base", "drn_edge"):
        (tmp_path / folder).mkdir()
        for suffix in ("", ".json"):
            shutil.copy(str(tiny_onnx["float"]) + suffix, tmp_path / folder / f"drn.onnx{suffix}")
        paths.append(str(tmp_path / folder / "drn.onnx"))
    cands = engine_candidates(paths + [str(tiny_onnx["uint8_fixed"])], "auto")
    try:
        labels = [c.label for c in cands]
        assert labels[0].startswith("drn_base/drn.onnx [") and labels[1].startswith("drn_edge/drn.onnx [")
        assert labels[2].startswith(f"{tiny_onnx['uint8_fixed'].parent.name}/")
    finally:
        for c in cands:
            c.close()


def test_live_video_passthrough_policy_writes_every_frame(tiny_onnx, tmp_path, capsys):
    from drn_edge.runtime import DerainEngine
    from drn_edge.runtime.apply import derain_video

    rng = np.random.default_rng(1)
    frames = [rng.integers(0, 255, (64, 96, 3), dtype=np.uint8) for _ in range(120)]
    with DerainEngine(tiny_onnx["float"]) as engine:
        n = derain_video(engine, FakeCamera(frames), tmp_path / "live.mp4", False, False, None, "camera 0", live=True,
                         policy="passthrough")
    assert n == 120 and "0 frame(s) dropped and" in capsys.readouterr().err


@pytest.mark.parametrize("args, message", [
    (["streams", "--cameras", "0"], "--cameras must be a whole number from 1 to 64, got 0"),
    (["streams", "--seconds", "0"], "--seconds must be a finite number above 0"),
    (["streams", "--fps", "inf"], "--fps must be a finite number above 0"),
    (["streams", "--queue", "0"], "--queue must be a whole number from 1 to 64"),
    (["video", "CLIP", "--frames", "1"], "--frames must be a whole number from 2 to 10000"),
    (["video", "CLIP", "--seed", "-1"], "--seed must be a whole number >= 0"),
    (["video", "NOTAVIDEO", "--no-pytorch"], "cannot open video"),
    (["frames", "--frames", "0"], "--frames must be a whole number >= 1"),
    (["frames", "--batch", "0"], "--batch must be a whole number from 1 to 256"),
    (["frames", "--fps", "-1"], "--fps must be a finite number above 0"),
    (["frames", "--warmup-seconds", "nan"], "--warmup-seconds must be a finite number >= 0"),
    (["frames", "--size", "8x4000", "--no-fidelity"], None),
    (["frames", "--size", "8x5000"], "--size 8x5000 is out of range"),
])
def test_bad_video_and_stream_requests_say_what_to_fix(tiny_onnx, tmp_path, capsys, args, message):
    clip = _clean_clip(tmp_path / "clean.mp4", frames=3)
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all")
    args = [str(clip) if a == "CLIP" else str(bad) if a == "NOTAVIDEO" else str(tmp_path / a) if a == "g.jpg" else a
            for a in args]
    size = [] if "--size" in args else ["--size", "96x128"]
    no_torch = ["--no-pytorch"] if args[0] != "streams" and "--no-pytorch" not in args else []
    rc = main([*args, "--engine", str(tiny_onnx["float"]), "--no-progress", *size, *no_torch] +
              (["--frames", "2", "--warmup", "0", "--warmup-seconds", "0"] if message is None else []))
    err = capsys.readouterr().err
    if message is None:  # the red team's drn-bench --size 8x4000: inside the bounds, so it must run
        assert rc == 0, err
        return
    assert rc == 2 and message in err and "Traceback" not in err


def test_plot_without_matplotlib_names_the_extra(tiny_onnx, tmp_path, capsys, monkeypatch):
    import sys

    clip = _clean_clip(tmp_path / "clean.mp4", frames=3)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    rc = main(["video", str(clip), "--frames", "3", "--engine", str(tiny_onnx["float"]), "--no-pytorch",
               "--no-progress", "--size", "96x128", "--plot", str(tmp_path / "p.png")])
    assert rc == 2 and "pip install 'drn-edge[bench]'" in capsys.readouterr().err
    assert not (tmp_path / "p.png").exists()


def test_old_switch_guard_sees_every_spelling_and_a_late_subcommand_is_explained(capsys):
    # --frames=5 beside the old --video switch meant the frames benchmark's count: refused, like --frames 5.
    assert main(["--video", "c.mp4", "--frames=5"]) == 2
    assert "--frames meant the frames benchmark's timed frames" in capsys.readouterr().err
    # Abbreviations are not accepted, so a shortened old switch cannot slip past the translation.
    with pytest.raises(SystemExit):
        main(["--vid", "c.mp4"])
    assert "unrecognized arguments: --vid" in capsys.readouterr().err
    # A subcommand after an option: one line that says to put it first (not "unrecognized arguments: video").
    assert main(["--engine", "e.onnx", "video", "c.mp4"]) == 2
    assert "the subcommand comes first: drn-bench video --engine e.onnx c.mp4" in capsys.readouterr().err
    assert main(["--no-progress", "streams"]) == 2
    assert "the subcommand comes first: drn-bench streams" in capsys.readouterr().err


def test_report_suffixes_are_checked_before_any_work(tiny_onnx, tmp_path, capsys):
    engine = str(tiny_onnx["float"])
    assert main(["--engine", engine, "--plot", str(tmp_path / "p.jpg")]) == 2
    assert "--plot" in (err := capsys.readouterr().err) and "must end in .png" in err
    assert main(["--engine", engine, "--grid", str(tmp_path / "g.txt")]) == 2
    assert "--grid" in capsys.readouterr().err
    assert main(["video", "c.mp4", "--engine", engine, "--side-by-side", str(tmp_path / "s.png")]) == 2
    assert "--side-by-side" in (err := capsys.readouterr().err) and ".mp4" in err
    assert not list(tmp_path.iterdir())
