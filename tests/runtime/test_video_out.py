"""runtime.video_out.VideoFile: the one video writer (drn-derain, drn-rain, drn-bench video --side-by-side)."""
import os

import cv2
import numpy as np
import pytest

from drn_edge.errors import ImageError, OutputError
from drn_edge.runtime.video_out import VideoFile


def _frames(n, h=32, w=48):
    return [np.full((h, w, 3), 20 * i % 255, np.uint8) for i in range(n)]


def _count(path):
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.grab():
        n += 1
    cap.release()
    return n


def test_written_video_is_complete_and_has_the_usual_mode(tmp_path):
    out = tmp_path / "v.mp4"
    with VideoFile(out, 10.0) as video:
        for f in _frames(12):
            video.write(f)
        assert video.commit() == 12
    assert _count(out) == 12
    mask = os.umask(0)
    os.umask(mask)
    assert out.stat().st_mode & 0o777 == 0o666 & ~mask  # was 0600 (mkstemp's mode)
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]  # no temp file left


def test_a_video_whose_frames_did_not_reach_the_disk_is_not_reported_written(tmp_path, monkeypatch):
    """OpenCV's writer reports nothing when the disk fills up: frames it could not store are found by reading back,
    and an earlier good video of that name is kept (was: exit 0, 'derained 60 frame(s)', 4 readable)."""
    out = tmp_path / "v.mp4"
    with VideoFile(out, 10.0) as video:
        for f in _frames(6):
            video.write(f)
        video.commit()
    good = out.read_bytes()
    real_open = cv2.VideoWriter

    class FullDisk:  # the real writer, which silently stops storing frames after the fourth
        def __init__(self, *a):
            self.w, self.n = real_open(*a), 0

        def isOpened(self):
            return self.w.isOpened()

        def write(self, img):
            self.n += 1
            if self.n <= 4:
                self.w.write(img)

        def release(self):
            self.w.release()

    monkeypatch.setattr(cv2, "VideoWriter", FullDisk)
    with pytest.raises(OutputError, match="4 of 10 frames"):
        with VideoFile(out, 10.0) as video:
            for f in _frames(10):
                video.write(f)
            video.commit()
    assert out.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["v.mp4"]


def test_frame_size_change_and_empty_video_are_errors(tmp_path):
    out = tmp_path / "v.mp4"
    with pytest.raises(ImageError, match="began at 32x48"):
        with VideoFile(out, 10.0) as video:
            video.write(_frames(1)[0])
            video.write(np.zeros((16, 16, 3), np.uint8))
    with pytest.raises(ImageError, match="no readable frames"):
        with VideoFile(out, 10.0) as video:
            video.commit()
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_side_by_side_never_writes_through_a_planted_temp_name(tmp_path):
    """drn-bench video --side-by-side used the predictable '.NAME.partial.mp4' (a planted link was followed)."""
    from drn_edge.bench.video import VideoBenchResult, write_side_by_side

    target = tmp_path / "victim.txt"
    target.write_text("keep me")
    (tmp_path / ".sbs.partial.mp4").symlink_to(target)
    clean = _frames(4, 64, 96)
    result = VideoBenchResult(report={}, fps=10.0, clean=clean, rainy=clean, outputs={"fp32": clean})
    write_side_by_side(result, str(tmp_path / "sbs.mp4"))
    assert target.read_text() == "keep me" and _count(tmp_path / "sbs.mp4") == 4


def test_an_interrupt_while_finishing_keeps_the_video(tmp_path, monkeypatch):
    """A second Ctrl-C / SIGTERM during commit waits until the file is in place (was: the recording was lost)."""
    import signal

    import drn_edge.runtime.video_out as vo

    real = vo._readable_frames

    def interrupted(path, expected):
        os.kill(os.getpid(), signal.SIGINT)  # arrives while the file is being finished
        return real(path, expected)

    monkeypatch.setattr(vo, "_readable_frames", interrupted)
    out = tmp_path / "rec.mp4"
    with pytest.raises(KeyboardInterrupt):
        with VideoFile(out, 10.0) as video:
            for f in _frames(5):
                video.write(f)
            video.commit()
    assert _count(out) == 5
