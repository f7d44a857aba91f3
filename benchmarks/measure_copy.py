"""The row the run tables of docs/levers-runs.md give a checkpoint: the one measurement every kept copy gets.

Usage: python benchmarks/measure_copy.py CHECKPOINT [LABEL]   (drn_base / drn_edge name the shipped ones; about 4
minutes on one core)

CHECKPOINT is exported to ONNX (FP32, `drn-export --no-fidelity --backend onnx`) and measured through ONNX Runtime the
way the README's summary is: `drn-eval` on the held-out road rain at 1280x720 (evocargo, comma2k19), Rain100L, Rain200H
and the real frames of nturain_rb2; the clean CamVid frames at 1280x720 and at their own 352x480 (mean / worst PSNR of
output vs input); the lane guard of benchmarks/candidate_check.py (torch). Prints the markdown row

| LABEL | 720p low / medium / high | Rain100L | Rain200H | balanced | real rain | CamVid 1280x720 | CamVid 352x480 | lane |

Reads ../shared; writes only to a temporary folder, removed at the end.
"""
from __future__ import annotations

import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path

import torch
from candidate_check import REAL, ROAD, SHARED, derainer, lane
from script_cli import run_script

from drn_edge.cli import evaluate, export
from drn_edge.errors import DataError

CAMVID = SHARED / "data" / "road" / "research_only" / "camvid"


def _quiet(cli_main, argv: list[str]) -> None:
    """Run a drn-* command in this process with its report swallowed (the JSON it writes is what is read)."""
    with contextlib.redirect_stdout(io.StringIO()):
        status = cli_main(argv)
    if status:  # the command has said why on stderr
        sys.exit(status)


def export_fp32(checkpoint: str, work: Path) -> Path:
    """The checkpoint's FP32 ONNX graph in `work` (drn-export, no fidelity check), as every row measures it."""
    _quiet(export.main, ["--checkpoint", checkpoint, "--out", str(work), "--no-fidelity", "--backend", "onnx",
                         "--threads", "1"])
    return work / "drn.onnx"


def _tables(engine: Path, out: Path, *args: str) -> dict:
    _quiet(evaluate.main, ["--engine", str(engine), "--no-generators", "--threads", "1", "--no-progress",
                           "--json", str(out), *args])
    return json.loads(out.read_text())["tables"]


def measure(checkpoint: str, work: Path) -> dict:
    """The figures of one row, from the JSON drn-eval writes."""
    torch.set_num_threads(1)
    derain = derainer(checkpoint)  # a missing or foreign checkpoint fails here, in one line, before any work
    engine = export_fp32(checkpoint, work)
    summary = _tables(engine, work / "summary.json", "--road", str(ROAD / "evocargo"), "--road",
                      str(ROAD / "comma2k19"), "--pairs", str(SHARED / "eval" / "rain100l"), "--pairs",
                      str(SHARED / "eval" / "rain200h"), "--real", str(REAL), "--grid", str(work / "grid.jpg"),
                      "--sizes", "720x1280")
    clean = {size: _tables(engine, work / f"camvid-{size}.json", "--clean-frames", str(CAMVID), "--sizes", size)
             for size in ("720x1280", "352x480")}
    return {"held_out": summary["held-out 1280x720"], "balanced": summary["balanced score"],
            "pairs": {name: row for key, table in summary.items() if key.startswith("pairs ")
                      for name, row in table.items()},
            "real": summary["real rain"]["mean_change"],
            "camvid": {size: next(t["clean/camvid"] for k, t in tables.items() if k.startswith("clean "))
                       for size, tables in clean.items()},
            "lane": lane(derain)}


def row(label: str, m: dict) -> str:
    rain = " / ".join(f"{m['held_out'][level]['gain_db']:+.2f}" for level in ("low", "medium", "high"))
    camvid = [f"{m['camvid'][size]['psnr']:.1f} / {m['camvid'][size]['psnr_min']:.1f}" for size in ("720x1280", "352x480")]
    return (f"| {label} | {rain} | {m['pairs']['rain100l']['gain_db']:+.2f} | {m['pairs']['rain200h']['gain_db']:+.2f} | "
            f"{m['balanced']['score']:+.2f} | {m['real']:.2f} | {camvid[0]} | {camvid[1]} | "
            f"{m['lane'][0]:.2f} / {m['lane'][1]:.2f} |")


def main(argv: list[str]) -> None:
    if not argv or len(argv) > 2:
        sys.exit(__doc__)
    if not SHARED.is_dir():
        raise DataError(f"{SHARED} is missing: this script measures on the evaluation data beside the project")
    with tempfile.TemporaryDirectory() as work:
        print(row(argv[1] if len(argv) == 2 else argv[0], measure(argv[0], Path(work))))


if __name__ == "__main__":
    run_script(main, __doc__)
