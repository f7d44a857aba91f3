"""The one way a video file is written (drn-derain, drn-rain, drn-bench video --side-by-side).

Frames go to a random temp name beside the output (``outputs.atomic_path``: never a planted link, the usual
file mode); the writer opens at the first frame with the best codec this OpenCV can write, and a video keeps
one frame size. ``commit()`` closes the file, reads it back, and renames it into place only if every written
frame is there: OpenCV's writer reports no error when the disk fills up, so a short file is caught here and
an earlier good video under that name is kept. Leaving the ``with`` block without ``commit()`` keeps nothing.
While ``commit()`` runs, Ctrl-C and SIGTERM wait: a second interrupt while a camera recording is being finished
used to lose the whole recording.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from pathlib import Path

import numpy as np

from drn_edge.errors import ImageError, OutputError
from drn_edge.outputs import atomic_path

__all__ = ["VideoFile", "open_video_writer"]


class VideoFile(contextlib.AbstractContextManager):
    def __init__(self, out_path: str | os.PathLike, fps: float, fourcc: int | None = None, source: str = "the input"):
        self.out_path, self.fps, self.fourcc, self.source = Path(out_path), fps, fourcc, source
        self.count = 0
        self.size: tuple[int, int] | None = None
        self._writer = None
        self._committed = False
        self._atomic = atomic_path(self.out_path, suffix=f".partial{self.out_path.suffix}")
        self.tmp = self._atomic.__enter__()

    def write(self, bgr: np.ndarray) -> None:
        """One HxWx3 uint8 BGR frame; the first one fixes the size (a later size is an error, never a silent drop)."""
        if self._writer is None:
            import cv2

            fourcc = self.fourcc or cv2.VideoWriter_fourcc(*"mp4v")
            self._writer = open_video_writer(self.tmp, self.out_path, fourcc, self.fps, bgr.shape[:2])
            self.size = bgr.shape[:2]
        elif bgr.shape[:2] != self.size:
            raise ImageError(f"frame {self.count + 1} of {self.source} is {bgr.shape[0]}x{bgr.shape[1]} but the video "
                             f"began at {self.size[0]}x{self.size[1]}; the output keeps one size: split the input "
                             "where its size changes")
        self._writer.write(bgr)
        self.count += 1

    def commit(self) -> int:
        """Close, check that every frame can be read back, and put the file in place. Returns the frame count."""
        if self._writer is None:
            raise ImageError(f"{self.source} has no readable frames; nothing was written")
        with _interrupts_held():  # a second Ctrl-C / SIGTERM while a recording is finished must not lose it
            self._writer.release()
            readable = _readable_frames(self.tmp, self.count)
            if readable < self.count:
                raise OutputError(f"'{self.out_path}' could not be written whole: {readable} of {self.count} frames can "
                                  "be read back (is the disk full?); nothing was kept"
                                  + (" and the earlier file of that name is unchanged" if self.out_path.exists() else ""))
            self._committed = True
            self._atomic.__exit__(None, None, None)  # chmod to the umask and rename into place
        return self.count

    def __exit__(self, exc_type, exc, tb):
        if self._writer is not None:
            self._writer.release()
        if not self._committed:
            with contextlib.suppress(OSError):
                self.tmp.unlink()
        return None


@contextlib.contextmanager
def _interrupts_held():
    """SIGINT and SIGTERM wait while the main thread finishes a file, then act as they would have.

    Handlers, not a signal mask: a process-directed signal goes to any thread that does not block it, and
    Python runs its handler in the main thread wherever that thread is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: pending.append(signum)) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if pending:
            handler = previous[pending[0]]
            if callable(handler):
                handler(pending[0], None)  # Python's Ctrl-C handler raises KeyboardInterrupt; the CLIs' SIGTERM too
            elif handler == signal.SIG_DFL:
                os.kill(os.getpid(), pending[0])


def _readable_frames(path: Path, expected: int) -> int:
    """How many frames of `path` decode (stops counting at `expected`); the container's count is not trusted."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        n = 0
        while n < expected and cap.grab():
            n += 1
        return n
    finally:
        cap.release()


def open_video_writer(tmp: Path, out_path: Path, fourcc: int, fps: float, size: tuple[int, int]):
    import cv2

    h, w = size
    # H.264 first for .mp4 (what browsers and players open), then the input's codec, then mp4v; OpenCV's own
    # log lines about codecs it cannot open are silenced, and one note says what was written.
    wanted = ["avc1"] if out_path.suffix.lower() in (".mp4", ".mov") else []
    wanted += [_fourcc_text(fourcc), "mp4v"]
    previous = cv2.utils.logging.getLogLevel()
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)
    try:
        with _quiet_native_stderr():
            for code in dict.fromkeys(c for c in wanted if len(c) == 4 and c.isprintable()):
                writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*code), fps, (w, h))
                if writer.isOpened():
                    break
                writer.release()
            else:
                raise OutputError(f"cannot write video '{out_path}'; use a .mp4 or .avi output name")
    finally:
        cv2.utils.logging.setLogLevel(previous)
    if code != wanted[0]:
        print(f"note: this OpenCV build cannot write {wanted[0]}; wrote {code}"
              + (" (some browsers do not play it; re-encode with ffmpeg -c:v libx264 if needed)" if code == "mp4v" else ""),
              file=sys.stderr)
    return writer


@contextlib.contextmanager
def _quiet_native_stderr():
    """FFmpeg logs from C straight to fd 2 while OpenCV probes encoders; hide that (briefly), not Python's stderr."""
    sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _fourcc_text(code: int) -> str:
    return "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
