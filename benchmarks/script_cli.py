"""What every benchmark script does with its command line, in one place.

-h / --help prints the script's docstring (its usage); a DrnEdgeError (a missing checkpoint, a bad path) is one
'error:' line and exit code 2, not a traceback. Scripts run as `python benchmarks/NAME.py`, so this module is found
beside them.
"""
from __future__ import annotations

import sys
from collections.abc import Callable

from drn_edge.errors import DrnEdgeError


def run_script(main: Callable[[list[str]], None], doc: str | None) -> None:
    """Call main(argv) with the script's arguments; exit 0 after help, 2 after an error."""
    argv = sys.argv[1:]
    if "-h" in argv or "--help" in argv:
        print((doc or "").strip())
        sys.exit(0)
    try:
        main(argv)
    except DrnEdgeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
