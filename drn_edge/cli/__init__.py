"""Thin command-line front ends: parse arguments, call the library, turn DrnEdgeError into a clean exit."""
from __future__ import annotations

import functools
import sys

from ..errors import DrnEdgeError


def friendly_errors(main):
    """Print a DrnEdgeError as one 'error:' line and exit 2, instead of a traceback."""

    @functools.wraps(main)
    def wrapper(argv=None):
        _exit_cleanly_on_sigterm()
        try:
            return main(argv)
        except DrnEdgeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130

    return wrapper


def _exit_cleanly_on_sigterm() -> None:
    """SIGTERM (docker stop, kill) unwinds like Ctrl-C, so temp files are removed and no .partial is left behind."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)


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
        return args.height, args.width
    if args.size is None:
        return None
    try:
        h, w = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        raise DrnEdgeError(f"--size takes HxW, e.g. 720x1280; got {args.size!r}") from None
    if h < 1 or w < 1:
        raise DrnEdgeError(f"--size must be positive, got {args.size}")
    return h, w
