"""Derain files: image sets and videos through any DerainEngine (what drn-derain runs). Torch-free.

Outputs are planned before any frame is processed: an output never overwrites an input, two
inputs never write the same output, and an existing file is replaced only when asked.
"""
from __future__ import annotations

import itertools
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from drn_edge import imageio
from drn_edge.errors import ImageError, OutputError
from drn_edge.outputs import plan_outputs
from drn_edge.progress import progress_bar
from drn_edge.runtime.streaming import StreamRunner, frames_of
from drn_edge.runtime.video_out import VideoFile

__all__ = ["ImageJob", "plan_images", "derain_images", "derain_video", "check_video_output", "panel",
           "capture_rate_and_count"]


@dataclass
class ImageJob:
    """Input file -> output file pairs, checked for collisions and overlaps."""

    pairs: list[tuple[Path, Path]]
    skipped: list[str] = field(default_factory=list)


def _expand(inputs: Sequence[str | os.PathLike]) -> list[Path]:
    files = []
    for item in inputs:
        p = Path(item)
        try:
            p.stat()
        except OSError as exc:  # missing, or a name the file system cannot hold (over 255 bytes)
            raise ImageError(f"input '{str(p)[:200]}' does not exist ({exc.strerror})") from None
        if p.is_dir():
            files += imageio.list_images(p)
        elif p.is_file():
            if not imageio.is_image(p):
                raise ImageError(f"'{p}' is not an image ({', '.join(imageio.IMAGE_SUFFIXES)}); "
                                 "give a video on its own, or image files and folders")
            files.append(p)
        else:
            raise ImageError(f"input '{p}' does not exist")
    return files


def plan_images(inputs: Sequence[str | os.PathLike], out_dir: str | os.PathLike, suffix: str = "",
                overwrite: bool = False) -> ImageJob:
    """Map every input image to OUT_DIR/STEM{suffix}.EXT and refuse any plan that would lose a file."""
    files = _expand(inputs)
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise OutputError(f"--out '{out_dir}' is a file; image inputs need an output folder")
    resolved_inputs = {f.resolve(): f for f in files}
    targets: dict[Path, Path] = {}   # resolved output -> input (collisions)
    named: dict[Path, Path] = {}     # resolved output -> the output path as named (never the resolved one: a link
    for f in files:                  # must be refused, not followed)
        ext = f.suffix.lower() if f.suffix.lower() in imageio.WRITABLE_IMAGE_SUFFIXES else ".png"
        target = out_dir / f"{f.stem}{suffix}{ext}"
        key = target.resolve()
        if key in resolved_inputs:
            raise OutputError(f"output '{target}' would overwrite the input '{resolved_inputs[key]}'; choose another "
                              "--out folder or add --suffix (e.g. --suffix _derained)")
        if key in targets:
            raise OutputError(f"inputs '{targets[key]}' and '{f}' would both be written to '{target}'; derain them "
                              "into separate --out folders or rename one")
        targets[key] = f
        named[key] = target

    planned = plan_outputs({f"--out ({named[key].name})": named[key] for key in targets}, files=files,
                           replace_existing=overwrite)
    return ImageJob([(f, planned[f"--out ({named[key].name})"]) for key, f in targets.items()])


def check_video_output(out_path: str | os.PathLike, source: Path | None, overwrite: bool) -> Path:
    out_path = Path(out_path)
    if out_path.suffix.lower() not in imageio.WRITABLE_VIDEO_SUFFIXES:
        raise OutputError(f"--out '{out_path}' must be a video file name ({', '.join(imageio.WRITABLE_VIDEO_SUFFIXES)}) "
                          "for a video or camera")
    if source is not None and out_path.resolve() == source.resolve():
        raise OutputError(f"--out '{out_path}' is the input video; choose another name")
    if out_path.is_dir():
        raise OutputError(f"--out '{out_path}' is a folder; give a video file name")

    return plan_outputs({"--out": out_path}, files=[source] if source is not None else [], replace_existing=overwrite)["--out"]


def panel(frame: np.ndarray, out: np.ndarray, show_rain: bool) -> np.ndarray:
    """input | derained (| input - derained, signed: mid-grey is no change, brighter = removed, darker = the model
    brightened the frame; x3), each panel labelled."""
    panels = [(frame, "input"), (out, "derained")]
    if show_rain:
        diff = (frame.astype(np.int16) - out.astype(np.int16)) * 3 + 128
        panels.append((np.clip(diff, 0, 255).astype(np.uint8), "input - derained (x3, grey = 0)"))
    scale = max(0.4, frame.shape[0] / 720)
    org = (8, int(24 * scale) + 4)
    return np.hstack([imageio.put_label(np.ascontiguousarray(img).copy(), text, org, 0.6 * scale) for img, text in panels])


def _progress(total, desc, enabled: bool = True):
    return progress_bar(total=total, desc=desc, enabled=enabled)


def derain_images(engine, job: ImageJob, side_by_side: bool = False, show_rain: bool = False,
                  skip_bad: bool = False, progress: bool = True) -> int:
    """Derain every planned image; undecodable ones stop the run (before any output when their header is bad)
    or, with skip_bad, are skipped and listed in job.skipped."""
    import cv2

    bad = [str(f) for f, _ in job.pairs if not cv2.haveImageReader(str(f))]
    if bad and not skip_bad:
        more = f" and {len(bad) - 1} more" if len(bad) > 1 else ""
        raise ImageError(f"cannot decode image '{bad[0]}'{more}; nothing was written. Fix or remove them, or pass --skip-bad")
    too_big = _over_pixel_limit(job, getattr(engine, "max_pixels", None))
    if too_big and not skip_bad:
        (first, (h, w)), more = too_big[0], (f" and {len(too_big) - 1} more" if len(too_big) > 1 else "")
        raise ImageError(f"image '{first}' is {h}x{w} (HxW), more than --max-pixels {engine.max_pixels:,}{more}; nothing "
                         "was written (checked from the file headers, before decoding). Resize them, raise --max-pixels "
                         "if this machine has the memory, or pass --skip-bad")
    if too_big:
        big = {src for src, _ in too_big}
        job.skipped.extend(str(src) for src in big)
        job.pairs[:] = [(src, dst) for src, dst in job.pairs if src not in big]
    if job.pairs:
        job.pairs[0][1].parent.mkdir(parents=True, exist_ok=True)
    done = 0
    with _progress(len(job.pairs), "derain", progress) as bar:
        for src, dst in job.pairs:
            frame = cv2.imread(str(src), cv2.IMREAD_COLOR)
            if frame is None:
                if not skip_bad:
                    raise ImageError(f"cannot decode image '{src}' ({done} image(s) written so far); pass --skip-bad "
                                     "to skip unreadable images")
                job.skipped.append(str(src))
                bar.update(1)
                continue
            out = engine(frame)
            imageio.write_image(dst, panel(frame, out, show_rain) if side_by_side else out)
            done += 1
            bar.update(1)
    return done


def _over_pixel_limit(job: ImageJob, max_pixels: int | None) -> list:
    """(file, (H, W)) of each planned PNG/JPEG whose header declares more than max_pixels: refused before decoding
    (a 195 KiB PNG of 8000x8000 decodes to 192 MB, and the engine would refuse it after that)."""
    if not max_pixels:
        return []
    sizes = ((src, imageio.declared_size(src)) for src, _ in job.pairs)
    return [(src, size) for src, size in sizes if size and size[0] * size[1] > max_pixels]


def derain_video(engine, capture, out_path: Path, side_by_side: bool, show_rain: bool, max_frames: int | None,
                 source: str, live: bool = False, policy: str = "drop-oldest", progress: bool = True) -> int:
    """Frames of `capture` -> `out_path` with the input's fps and (where OpenCV can write it) its codec.

    Runs through the streaming runtime, so reading, inference and writing overlap. A file (live=False)
    loses no frame: the reader waits for the engine, and an engine failure stops the job. A camera
    (live=True) never waits: when the engine falls behind the oldest waiting frame is dropped (or,
    with policy="passthrough", written raw), and a failed frame is written raw; the progress bar shows both.
    """
    import cv2

    if not capture.isOpened():
        raise ImageError(f"cannot open {source}")
    fps, total = capture_rate_and_count(capture, source)
    if max_frames:
        total = min(total or max_frames, max_frames)
    fourcc = int(capture.get(cv2.CAP_PROP_FOURCC)) or cv2.VideoWriter_fourcc(*"mp4v")
    state: dict = {"failure": None, "interrupted": False}

    def write(result) -> None:
        if state["failure"] is not None:
            return
        try:
            video.write(panel(result.source, result.frame, show_rain) if side_by_side else result.frame)
            bar.update(1)
            counters = stream.counters  # plain counts per frame; a full stats() snapshot sorts the latencies
            if counters.dropped or counters.passed_through:
                bar.set_postfix(dropped=counters.dropped, raw=counters.passed_through, refresh=False)
        except BaseException as exc:  # stop reading; re-raised below
            state["failure"] = exc
            stream.close_input()

    frames = itertools.islice(frames_of(capture), max_frames) if max_frames else frames_of(capture)
    try:
        with VideoFile(out_path, fps, fourcc, source) as video:
            with _progress(total, "derain", progress) as bar:
                runner = StreamRunner(engine, on_error="passthrough" if live else "stop")
                try:
                    stream = runner.add_source("video", frames, write, live=live, keep_source=side_by_side,
                                               policy=policy)
                    try:
                        runner.wait()
                    except KeyboardInterrupt:
                        if not live:
                            raise  # a file interrupted half-way is not a result: nothing is kept
                        # Ctrl-C / SIGTERM is how a camera recording ends: keep what was derained.
                        state["interrupted"] = True
                        stream.close_input()
                finally:
                    stats = runner.close()["video"]
            if state["failure"] is not None:
                raise state["failure"]
            if video.count == 0:
                raise ImageError(f"{source}: {stats.error}" if stats.error else f"{source} has no readable frames")
            if stats.error and not live:
                raise ImageError(f"{source} ended early after {video.count} frame(s): {stats.error}; nothing was kept")
            _video_notes(source, stats, video.count, total, live, max_frames, state["interrupted"])
            return video.commit()
    finally:
        capture.release()


def _video_notes(source: str, stats, count: int, total: int | None, live: bool, max_frames, interrupted: bool) -> None:
    if stats.error:
        print(f"note: {source} ended early: {stats.error}", file=sys.stderr)
    if total and not live and not max_frames and count < total:
        print(f"note: {source} declared {total} frames but {count} could be decoded (a truncated file?)",
              file=sys.stderr)
    if interrupted:
        print(f"note: recording stopped by an interrupt after {count} frame(s); kept", file=sys.stderr)
    if stats.dropped or stats.passed_through:
        print(f"note: {stats.dropped} frame(s) dropped and {stats.passed_through} written raw because the engine "
              "fell behind or failed", file=sys.stderr)

MAX_FPS = 1000.0


def capture_rate_and_count(capture, source: str) -> tuple[float, int | None]:
    """The capture's frame rate and frame count, checked: OpenCV reports 0, NaN or inf for some streams."""
    import cv2

    fps = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
    if not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
        print(f"note: {source} reports a frame rate of {fps:g}; writing at 30 fps", file=sys.stderr)
        fps = 30.0
    count = float(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0.0)
    total = int(count) if math.isfinite(count) and 0 < count < 1e9 else None
    return fps, total
