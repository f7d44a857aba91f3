"""drn-derain: derain images, folders of images, a video file or a camera with an exported engine."""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from drn_edge.checks import missing
from drn_edge.cli import friendly_errors, threads_option
from drn_edge.errors import DrnEdgeError, ImageError
from drn_edge.outputs import output_lock
from drn_edge.runtime.frame_policy import OVERLOAD_POLICIES
from drn_edge.runtime.sources import is_live_source, open_live_source


def build_parser() -> argparse.ArgumentParser:
    # lazy: keeps `--help` and argument errors instant; this loads numpy
    from drn_edge.runtime.engine import BACKENDS

    # lazy: keeps `--help` and argument errors instant; this loads numpy
    from drn_edge.runtime.frames import DEFAULT_MAX_PIXELS

    p = argparse.ArgumentParser(prog="drn-derain", description=(
        "Derain images, folders, a video file or a camera. "
        "Example: drn-derain --engine drn_export/drn.int8.onnx rainy.mp4 --out clean.mp4 --side-by-side"))
    p.add_argument("inputs", nargs="*", help="image files, folders of images, one video file, or one live source: a "
                   "camera index (0), /dev/videoN, an rtsp:// or http(s):// URL, or a GStreamer pipeline ending in "
                   "appsink")
    p.add_argument("--camera", type=int, help="read from this camera index instead of files (default: none)")
    p.add_argument("--max-frames", type=int, help="stop after this many frames, camera or video (default: all)")
    p.add_argument("--policy", default="drop-oldest", choices=OVERLOAD_POLICIES,
                   help="--camera only: when the engine falls behind, drop the oldest waiting frame, or write it "
                        "raw (default: %(default)s)")
    p.add_argument("--engine", default="drn_export/drn.onnx", help="engine file: .onnx or .plan (default: %(default)s)")
    p.add_argument("--backend", default="auto", choices=BACKENDS, help="inference backend (default: %(default)s)")
    threads_option(p, "ONNX Runtime")
    p.add_argument("--out", required=True, help="output folder for images, or output video file for a video/camera (required)")
    p.add_argument("--suffix", default="", help="append this to output image names, e.g. _derained (default: none)")
    p.add_argument("--overwrite", action="store_true", help="replace existing output files; inputs are never replaced (default: off)")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images instead of stopping (default: off)")
    p.add_argument("--side-by-side", action="store_true", help="write input | output panels (default: off)")
    p.add_argument("--show-rain", action="store_true",
                   help="with --side-by-side, add the removed rain layer as a third panel (default: off)")
    p.add_argument("--resize", action="store_true",
                   help="letterbox frames into a fixed-size engine's size (aspect ratio kept) and back (default: off)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS,
                   help="refuse frames larger than this many pixels (memory bound; raise it for 4K cameras on a "
                        "machine with the memory, or use --resize with a fixed-size engine) (default: %(default)s)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: shown)")
    return p


@friendly_errors
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    import cv2

    # lazy: keeps `--help` and argument errors instant; this loads numpy
    from drn_edge import imageio

    # lazy: keeps `--help` and argument errors instant; this loads numpy
    from drn_edge.runtime import DerainEngine
    from drn_edge.runtime.apply import check_video_output, derain_images, derain_video, plan_images

    if args.camera is None and not args.inputs:
        raise ImageError("give image/video inputs, a camera or stream (0, /dev/video0, rtsp://...), or --camera N")
    if args.camera is not None and (args.inputs or args.camera < 0):
        raise DrnEdgeError("--camera takes a camera index >= 0 and no input files")
    if "/" in args.suffix or "\\" in args.suffix or args.suffix in (".", ".."):
        raise DrnEdgeError(f"--suffix is appended to output file names and may not hold a path separator, got "
                           f"{args.suffix!r}; choose the folder with --out")
    if args.camera is not None and args.camera > 1023:
        raise DrnEdgeError(f"--camera takes an index from 0 to 1023, got {args.camera}")
    if args.max_frames is not None and args.max_frames < 1:
        raise DrnEdgeError(f"--max-frames must be at least 1, got {args.max_frames}")
    live_source = None
    if args.camera is not None:
        live_source = args.camera
    elif len(args.inputs) == 1 and is_live_source(args.inputs[0]):
        live_source = args.inputs[0]
    video = None
    if live_source is None and len(args.inputs) == 1 and Path(args.inputs[0]).suffix.lower() in imageio.VIDEO_SUFFIXES:
        video = Path(args.inputs[0])
        if not video.is_file():
            raise ImageError(f"video '{video}' {missing(video)}")
    if args.policy != "drop-oldest" and live_source is None:
        raise DrnEdgeError("--policy applies to a camera or stream only (a video file loses no frame: the reader waits)")
    # Every output is planned and checked before the engine loads or any frame is written.
    if live_source is not None or video is not None:
        out = check_video_output(args.out, video, args.overwrite)
    else:
        job = plan_images(args.inputs, args.out, args.suffix, args.overwrite)
    with output_lock(args.out, "drn-derain"), \
            DerainEngine(args.engine, backend=args.backend, resize=args.resize, threads=args.threads,
                         max_pixels=args.max_pixels) as engine:
        t0 = time.monotonic()
        if live_source is not None:
            n = derain_video(engine, open_live_source(live_source), out, args.side_by_side, args.show_rain,
                             args.max_frames, f"camera {live_source}", live=True, policy=args.policy,
                             progress=not args.no_progress)
        elif video is not None:
            n = derain_video(engine, cv2.VideoCapture(str(video)), out, args.side_by_side, args.show_rain,
                             args.max_frames, f"video '{video}'", progress=not args.no_progress)
        else:
            n = derain_images(engine, job, args.side_by_side, args.show_rain, args.skip_bad, progress=not args.no_progress)
            if job.skipped:
                print(f"skipped {len(job.skipped)} unreadable image(s): {', '.join(job.skipped[:5])}")
        seconds = time.monotonic() - t0
        print(f"derained {n} frame(s) with {engine.backend_name} -> {args.out} in {seconds:.1f} s "
              f"({1000 * seconds / max(n, 1):.0f} ms per frame)"
              + (f"; {engine.stats.passthrough} passed through" if engine.stats.passthrough else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
