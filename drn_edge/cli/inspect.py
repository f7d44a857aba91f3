"""drn-inspect: what an artifact is, read from its sidecar and checked against the file (as Polygraphy's inspect model)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from drn_edge.checks import missing
from drn_edge.cli import friendly_errors
from drn_edge.errors import EngineError
from drn_edge.onnx_spec import graph_precision, io_description
from drn_edge.sidecar import verify_artifact


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="drn-inspect", description=(
        "Print an exported artifact's provenance: sha256 checked against its sidecar, kind, precision, size, I/O (read "
        "from the ONNX graph itself), source checkpoint, calibration, fidelity, preset, pruning. "
        "Example: drn-inspect drn_export/drn.int8.onnx"))
    p.add_argument("artifact", help="a drn-export artifact: .onnx or .plan, with its sidecar beside it")
    p.add_argument("--json", action="store_true", help="print the whole sidecar record as JSON (default: a summary)")
    return p


@friendly_errors
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    path = Path(args.artifact)
    if not path.is_file():
        raise EngineError(f"'{path}' {missing(path)}")
    record = verify_artifact(path, required=True)  # the sha256 must match before anything else is trusted
    if args.json:
        print(json.dumps(record, indent=2, sort_keys=True))
        return 0
    io = _dict(record.get("io"))
    if path.suffix.lower() == ".onnx":
        try:
            io = io_description(path)
            record = {**record, "graph_precision": graph_precision(path)}
        except Exception as exc:  # onnx raises several types for a damaged graph
            raise EngineError(f"'{path}' matches its sidecar but is not a readable ONNX graph "
                              f"({type(exc).__name__}); re-export it with drn-export") from None
    spec = _dict(record.get("spec"))
    size = f"{spec.get('height')}x{spec.get('width')}" if spec.get("height") else "dynamic HxW (multiples of 8)"
    lines = [f"{path.name}: {record.get('kind', '?')}, {record.get('precision', '?')}, sha256 {record['sha256'][:16]}... "
             f"(matches the file), {_num(_megabytes(record.get('bytes')), '.2f')} MB",
             f"  size        {size}, opset {spec.get('opset', '?')}, I/O {spec.get('io', '?')}"]
    if "graph_precision" in record:
        lines.append(f"  graph       computes in {record['graph_precision']} (read from the ONNX)")
    for kind in ("inputs", "outputs"):
        for t in [t for t in _list(io.get(kind)) if isinstance(t, dict)]:
            lines.append(f"  {kind[:-1]:<11} {t.get('name')} {t.get('dtype')} {t.get('shape')}")
    src = _dict(record.get("source"))
    lines.append(f"  source      {src.get('file', '?')} ({src.get('kind', '?')}, sha256 {str(src.get('sha256', ''))[:12]}...)")
    cal = _dict(record.get("calibration"))
    if cal:
        what = cal.get("ranges") or f"--calib folder '{cal.get('dir')}'"
        lines.append(f"  calibration {what}: {cal.get('frames')} frames at {cal.get('size')}, {cal.get('method')}")
    fid = _dict(record.get("fidelity"))
    if fid:
        drop = _num(fid.get("drop_db"), "+.2f")
        lines.append(f"  fidelity    {_num(fid.get('psnr'), '.2f')} dB on held-out medium rain"
                     + (f", drop {drop} dB vs its FP32 (positive = worse)" if fid.get("drop_db") is not None else ""))
    if record.get("preset"):
        lines.append(f"  preset      {record['preset']}")
    if _dict(record.get("pruning")):
        pr = record["pruning"]
        lines.append(f"  pruning     {pr.get('ratio')} of channels, params {pr.get('params_before')} -> {pr.get('params_after')}")
    if record.get("tensorrt"):
        lines.append(f"  tensorrt    {record.get('tensorrt')} on {record.get('gpu')}")
    print("\n".join(lines))
    return 0


def _dict(value) -> dict:
    """A sidecar field that should be an object: anything else (an edited or damaged file) reads as empty."""
    return value if isinstance(value, dict) else {}


def _megabytes(value) -> float | None:
    return value / 1e6 if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _list(value) -> list:
    return value if isinstance(value, list) else []


def _num(value, fmt: str) -> str:
    """A number formatted, or '?' for a field that is not one (e.g. "psnr": "high")."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    return format(value, fmt) if ok else "?"


if __name__ == "__main__":
    raise SystemExit(main())
