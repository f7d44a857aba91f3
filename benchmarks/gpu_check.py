"""PyTorch CUDA baselines for the shipped models: FP32, FP16, channels_last, CUDA graphs, torch.compile.

Run by benchmarks/gpu_check.sh on a GPU machine; on a CPU it runs the same code paths that need no
CUDA (a check that the script itself works). Median and p99 from CUDA events over --frames frames.
Writes JSON and Markdown with the device name. Each model and size is measured in a process of its own: a CUDA fault
(the FP16 CUDA-graph replay at 1920x1080 stopped the first GPU run with "an illegal memory access", which leaves the
process's CUDA context unusable) becomes a "failed" row, the other rows are still measured and the report still
written, and the exit status is 1.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from drn_edge.artifacts import SHIPPED_CHECKPOINT, SHIPPED_EDGE_CHECKPOINT
from drn_edge.model.checkpoint import load_model
from drn_edge.model.drn import count_macs


def _timer(device: str):
    if device == "cuda":
        def time_once(fn):
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            torch.cuda.synchronize()
            return start.elapsed_time(end)
    else:
        def time_once(fn):
            t0 = time.perf_counter()
            fn()
            return (time.perf_counter() - t0) * 1000
    return time_once


def variants(model, device: str, x: torch.Tensor, compile_model: bool = True):
    """(name, callable) for each way of running the model; those that need CUDA only on a GPU."""
    out = [("fp32", lambda: model(x))]
    if device == "cuda":
        half, xh = __import__("copy").deepcopy(model).half(), x.half()
        out.append(("fp16", lambda: half(xh)))
        cl = __import__("copy").deepcopy(model).half().to(memory_format=torch.channels_last)
        xcl = xh.contiguous(memory_format=torch.channels_last)
        out.append(("fp16+channels_last", lambda: cl(xcl)))
        static = xh.clone()
        graph = torch.cuda.CUDAGraph()
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                half(static)
        torch.cuda.current_stream().wait_stream(s)
        with torch.cuda.graph(graph):
            half(static)
        out.append(("fp16+cuda_graph", graph.replay))
    if not compile_model:
        return out
    try:
        compiled = torch.compile(model if device == "cpu" else __import__("copy").deepcopy(model).half())
        xc = x if device == "cpu" else x.half()
        compiled(xc)
        out.append(("torch.compile" + ("" if device == "cpu" else " fp16"), lambda: compiled(xc)))
    except Exception as exc:  # torch.compile needs a compiler toolchain; say so instead of failing the run
        out.append((f"torch.compile unavailable: {type(exc).__name__}", None))
    return out


def measure(label: str, path: str, size: str, device: str, frames: int, warmup: int, compile_model: bool,
            rows_path: str) -> None:
    """The rows of one model at one size (HxW), every variant, each appended to `rows_path` (JSON lines) once measured:
    the rows before a fault survive it."""
    torch.backends.cudnn.benchmark = True
    timer = _timer(device)
    model = load_model(path).to(device).eval()
    h, w = (int(v) for v in size.split("x"))
    x = torch.rand(1, 3, h + (-h) % 8, w + (-w) % 8, device=device)
    gmac = count_macs(model, x.shape[2], x.shape[3]) / 1e9  # once: the same network in every variant
    with torch.no_grad(), open(rows_path, "a") as rows:
        for vname, fn in variants(model, device, x, compile_model):
            row = {"model": label, "size": size, "variant": vname}
            if fn is not None:
                for _ in range(warmup):
                    fn()
                ms = np.array([timer(fn) for _ in range(frames)])
                row.update(frames=frames, median_ms=float(np.median(ms)), p99_ms=float(np.percentile(ms, 99)), gmac=gmac)
                print(f"{label} {size} {vname}: median {row['median_ms']:.2f} ms, p99 {row['p99_ms']:.2f}", flush=True)
            rows.write(json.dumps(row) + "\n")
            rows.flush()


def isolated(fn, *args):
    """(fn(*args), None) run in a fresh process, or (None, what went wrong): a CUDA fault poisons only that process."""
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        try:
            return pool.submit(fn, *args).result(), None
        except Exception as exc:  # the child's exception, or BrokenProcessPool when it died
            return None, f"{type(exc).__name__}: {exc}".strip()


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", default="360x640,720x1280,1080x1920")
    p.add_argument("--frames", type=int, default=200)
    p.add_argument("--warmup", type=int, default=20)
    p.add_argument("--out", default="benchmarks/results/gpu")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile (slow to compile on a CPU)")
    args = p.parse_args(argv)
    device = args.device
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    models = {"drn_base": SHIPPED_CHECKPOINT}
    if SHIPPED_EDGE_CHECKPOINT.is_file():
        models["drn_edge"] = SHIPPED_EDGE_CHECKPOINT
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    rows, failed = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        for label, path in models.items():
            for size in args.sizes.split(","):
                rows_path = Path(tmp) / f"{label}-{size}.jsonl"
                rows_path.touch()
                _, error = isolated(measure, label, str(path), size, device, args.frames, args.warmup,
                                    not args.no_compile, str(rows_path))
                rows.extend(json.loads(line) for line in rows_path.read_text().splitlines())
                if error:
                    failed += 1
                    rows.append({"model": label, "size": size, "variant": f"failed: {error}"})
                    print(f"{label} {size}: failed: {error}")
    report = {"device": name, "torch": torch.__version__, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "rows": rows}
    (out / "pytorch_cuda.json").write_text(json.dumps(report, indent=1))
    md = [f"### PyTorch baselines on {name} (torch {torch.__version__}), {args.frames} frames, CUDA events", "",
          "| model | size | variant | GMAC | median ms | p99 ms |", "|---|---|---|---:|---:|---:|"]
    for r in rows:
        md.append(f"| {r['model']} | {r['size']} | {r['variant']} | {r.get('gmac', 0):.1f} | "
                  f"{r.get('median_ms', float('nan')):.2f} | {r.get('p99_ms', float('nan')):.2f} |")
    (out / "pytorch_cuda.md").write_text("\n".join(md) + "\n")
    print(f"wrote {out}/pytorch_cuda.json and .md" + (f"; {failed} model/size measurement(s) failed" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
