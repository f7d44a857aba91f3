"""The checks every request's __post_init__ uses: whole numbers, finite numbers, choices, frame sizes.

Each message names the command-line flag the value came from, so a request built by a CLI and one
built in Python fail with the same words. Torch-free; the sizes' bounds live here and nowhere else.
"""
from __future__ import annotations

import math
import os
import sys

from drn_edge.errors import DrnEdgeError

__all__ = ["MIN_SIDE", "MAX_SIDE", "whole", "number", "choice", "hxw", "parse_hxw"]

MIN_SIDE, MAX_SIDE = 8, 4096  # frame sides any command accepts, px


def missing(path) -> str:
    """Why a file is not there, for an error message: a folder given where a file is expected is not 'missing'."""
    return "is a folder, not a file" if os.path.isdir(path) else "does not exist"


def items(obj, name: str, flag: str, kinds: tuple = (str, os.PathLike), error: type[DrnEdgeError] = DrnEdgeError) -> tuple:
    """Set obj.name (a frozen request's list field) to a tuple, refusing a single string (it would be iterated one
    character at a time: TrainConfig(clean='frames') trained on folders 'f', 'r', ...) or items of the wrong type."""
    value = getattr(obj, name)
    if isinstance(value, (str, bytes, os.PathLike)) or not isinstance(value, (tuple, list)):
        hint = f"; for one item write ({value!r},)" if isinstance(value, (str, os.PathLike)) else ""
        raise error(f"{flag} takes a list of values, got {type(value).__name__} {str(value)[:80]!r}{hint}")
    wrong = [v for v in value if not isinstance(v, kinds) or isinstance(v, bool)]
    if wrong:
        raise error(f"{flag}: {str(wrong[0])[:80]!r} is a {type(wrong[0]).__name__}, not a "
                    f"{' or '.join(k.__name__ for k in kinds)}")
    object.__setattr__(obj, name, tuple(value))
    return tuple(value)


def whole(value, flag: str, low: int | None = None, high: int | None = None, optional: bool = False,
          error: type[DrnEdgeError] = DrnEdgeError) -> int | None:
    """`value` if it is a whole number in [low, high] (None too when optional)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or (low is not None and value < low) \
            or (high is not None and value > high):
        bound = (f" from {low} to {high}" if high is not None else f" >= {low}") if low is not None else ""
        raise error(f"{flag} must be a whole number{bound}, got {value!r}")
    return value


def number(value, flag: str, above: float | None = None, low: float | None = None, optional: bool = False,
           error: type[DrnEdgeError] = DrnEdgeError) -> float | None:
    """`value` if it is a finite number, > above / >= low when given (None too when optional)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or (above is not None and value <= above) or (low is not None and value < low):
        bound = f" above {above:g}" if above is not None else (f" >= {low:g}" if low is not None else "")
        raise error(f"{flag} must be a finite number{bound}, got {value!r}")
    return value


def choice(value, choices, flag: str, error: type[DrnEdgeError] = DrnEdgeError):
    if value not in choices:
        raise error(f"{flag} must be one of {', '.join(map(str, choices))}; got {value!r}")
    return value


def hxw(h, w, flag: str, error: type[DrnEdgeError] = DrnEdgeError) -> tuple[int, int]:
    """The one bound on frame sizes of every command: MIN_SIDE to MAX_SIDE px a side."""
    if not all(isinstance(v, int) and not isinstance(v, bool) and MIN_SIDE <= v <= MAX_SIDE for v in (h, w)):
        raise error(f"{flag} {h}x{w} is out of range: each side must be {MIN_SIDE} to {MAX_SIDE} px")
    return h, w


def parse_hxw(text: str, flag: str, error: type[DrnEdgeError] = DrnEdgeError) -> tuple[int, int]:
    """'720x1280' -> (720, 1280), bounded by hxw(); the one HxW parser of every command."""
    try:
        h, w = (int(v) for v in str(text).lower().split("x"))
    except ValueError:
        raise error(f"{flag} takes HxW, e.g. 720x1280; got {text!r}") from None
    if h > w:  # '1280x720' is the WxH habit of other tools: say what HxW makes of it (a portrait frame)

        print(f"note: {flag} {h}x{w} is HxW: a portrait frame {h} high and {w} wide; for a landscape camera write "
              f"{flag} {w}x{h}", file=sys.stderr)
    return hxw(h, w, flag, error)
