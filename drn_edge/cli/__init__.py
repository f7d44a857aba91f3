"""Thin command-line front ends: parse arguments, call the library, turn DrnEdgeError into a clean exit."""
from __future__ import annotations

import functools
import sys

from ..errors import DrnEdgeError


def friendly_errors(main):
    """Print a DrnEdgeError as one 'error:' line and exit 2, instead of a traceback."""

    @functools.wraps(main)
    def wrapper(argv=None):
        try:
            return main(argv)
        except DrnEdgeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            return 130

    return wrapper
