"""The one progress-bar rule of every long job (training, calibration, export, evaluation, benchmarks, video).

On stderr (stdout stays for tables and JSON); off with each command's --no-progress (enabled=False);
redrawn at most every 0.5 s on a terminal and every 10 s when stderr is a log file, so CI logs show
progress without a flood; inner bars (leave=False) disappear when done.
"""
from __future__ import annotations

import sys

__all__ = ["progress_bar"]


def progress_bar(iterable=None, *, total: int | None = None, desc: str = "", unit: str = "frame",
                 enabled: bool = True, leave: bool = True, initial: int = 0):
    from tqdm import tqdm

    return tqdm(iterable, total=total, desc=desc[:30], unit=unit, initial=initial, file=sys.stderr, leave=leave,
                dynamic_ncols=True, disable=not enabled, mininterval=0.5 if sys.stderr.isatty() else 10.0)
