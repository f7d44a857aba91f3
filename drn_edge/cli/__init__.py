"""Thin command-line front ends: parse arguments, call the library, turn DrnEdgeError into a clean exit."""
from __future__ import annotations

import argparse
import functools
import importlib.util
import signal
import sys
import threading
import warnings

from drn_edge.checks import hxw, parse_hxw
from drn_edge.errors import DrnEdgeError, MissingDependencyError


def friendly_errors(main):
    """Print a DrnEdgeError as one 'error:' line and exit 2, instead of a traceback."""
    @functools.wraps(main)
    def wrapper(argv=None):
        _exit_cleanly_on_sigterm()
        _plain_warnings()
        try:
            return main(argv)
        except DrnEdgeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130

    return wrapper


def _plain_warnings() -> None:
    """A command's warnings as one 'warning:' line each (Python's default prints the file, line and source)."""
    def show(message, category, filename, lineno, file=None, line=None):
        print(f"warning: {message}", file=file or sys.stderr)

    warnings.showwarning = show


class Terminated(KeyboardInterrupt):
    """SIGTERM as an exception: every `except KeyboardInterrupt` cleanup runs for it too.

    A subclass, not KeyboardInterrupt itself: CPython marks an exact KeyboardInterrupt that passes through an
    exec() of a string (scipy runs one at import) as uncaught, and then exits by SIGINT (-2) even after
    friendly_errors has caught it and returned 130."""


def _exit_cleanly_on_sigterm() -> None:
    """SIGTERM (docker stop, kill) unwinds like Ctrl-C, so temp files are removed and no .partial is left behind."""
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum, frame):
        raise Terminated

    signal.signal(signal.SIGTERM, stop)


def threads_option(parser, used_by: str) -> None:
    """--threads N for every command: whole N >= 1, refused by argparse before any work."""
    parser.add_argument("--threads", type=_threads, metavar="N",
                        help=f"{used_by} CPU threads (default: the library's choice)")


def _threads(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"takes a whole number >= 1, got {text!r}")
    return n


CHECKPOINT_HELP = "a .safetensors checkpoint, or drn_base / drn_edge for the shipped models (default: drn_base)"


def size_option(parser, help_text: str) -> None:
    """--size HxW, with --height/--width kept as deprecated aliases for one release."""
    parser.add_argument("--size", help=help_text)
    parser.add_argument("--height", type=int, help="deprecated: use --size HxW")
    parser.add_argument("--width", type=int, help="deprecated: use --size HxW")


def parse_size(args, what: str) -> tuple[int, int] | None:
    """(H, W) from --size, or from the deprecated --height/--width (with a note); None when none was given."""
    if args.height is not None or args.width is not None:
        if args.size:
            raise DrnEdgeError("give --size HxW or the deprecated --height/--width, not both")
        if args.height is None or args.width is None:
            raise DrnEdgeError(f"give both --height and --width (better: --size HxW) for a fixed {what} size")
        print("note: --height/--width are deprecated and will be removed in the next release; use "
              f"--size {args.height}x{args.width}", file=sys.stderr)
        return hxw(args.height, args.width, "--height/--width")
    if args.size is None:
        return None
    return parse_hxw(args.size, "--size")


def add_detection_options(parser, default_frames: str) -> None:
    """drn-eval's and drn-bench's detection-check options (one definition for both)."""
    d = parser.add_argument_group("detection check", "does deraining help the detector after it? COCO AP (pycocotools) of "
                             "the detector on rainy vs derained frames, against its own boxes on the clean frame "
                             "(or --labels)")
    d.add_argument("--detector", metavar="DET.onnx", help="an ONNX object detector (YOLOX, YOLOv5/v8 or NMS-in-graph "
                   "outputs) (default: none)")
    d.add_argument("--detector-layout", choices=("yolox", "yolov5", "yolov8", "nms"),
                   help="the detector's output layout (default: detected from the output shapes)")
    d.add_argument("--detector-classes", metavar="FILE", help="class names, one per line (default: indices)")
    d.add_argument("--detect-frames", action="append", default=[], metavar="DIR",
                   help=f"clean frames with objects to rain on, repeatable (default: {default_frames})")
    d.add_argument("--detect-max-frames", type=int, default=24, metavar="N",
                   help="at most N frames, evenly spaced over the folders (default: %(default)s)")
    d.add_argument("--labels", metavar="PATH", help="ground truth for --detect-frames: COCO JSON or a folder of YOLO "
                   ".txt files; frames are then used at native size (default: the clean-frame detections)")
    d.add_argument("--detect-grid", metavar="IMAGE", help="write rainy | derained | clean with boxes (default: none)")
    d.add_argument("--detect-markdown", metavar="FILE", help="write the detection table as Markdown (default: none)")


def load_detector(args):
    """The --detector as an OnnxDetector, checked before any derain work (a bad file fails first)."""
    # lazy: keeps `--help` and argument errors instant; this loads numpy
    from drn_edge.detection.detector import OnnxDetector, load_class_names

    if args.detect_max_frames < 1:
        raise DrnEdgeError(f"--detect-max-frames must be at least 1, got {args.detect_max_frames}")

    if importlib.util.find_spec("pycocotools") is None:  # found before the bench, not after it

        raise MissingDependencyError("pycocotools", "bench", "the detection check (--detector)")
    names = load_class_names(args.detector_classes) if args.detector_classes else ()
    detector = OnnxDetector(args.detector, args.detector_layout, names, threads=args.threads)
    try:  # a detector that loads but cannot run fails now, not after minutes of derain work
        import numpy as np

        detector(np.full((64, 64, 3), 128, np.uint8))
    except DrnEdgeError:
        raise
    except Exception as exc:  # noqa: BLE001 - ONNX Runtime raises its own types
        raise DrnEdgeError(f"--detector '{args.detector}' loads but cannot run on a frame "
                           f"({type(exc).__name__}: {str(exc)[:200]}); check the model and --detector-layout") from None
    if getattr(args, "labels", None):
        # lazy: keeps `--help` and argument errors instant; this loads numpy
        from drn_edge.detection.labels import load_labels

        load_labels(args.labels, {})  # a malformed label file fails now
    return detector
