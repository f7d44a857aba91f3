"""drn-bench: latency (end-to-end and engine-only) and fidelity drop, for several engines side by side.

Speed-ups are claimed only as ratios measured in one process on the same frames, never as
absolute times from different runs. The JSON report follows drn_edge/bench_schema.json.
"""
from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import DrnEdgeError
from .metrics import psnr, ssim, uqi

SCHEMA_VERSION = 1
NOISY_CV = 0.15


# --------------------------------------------------------------------------- candidates
@dataclass
class Candidate:
    """One thing to time: an engine file or the PyTorch eager baseline, behind the same two calls."""

    label: str
    derain: Callable[[np.ndarray], np.ndarray]       # BGR uint8 frame -> BGR uint8 frame (end to end)
    prepare: Callable[[np.ndarray], object]           # frame -> graph input
    compute: Callable[[object], object]               # graph input -> graph output (engine only)
    compute_ms: Callable[[], float | None] = lambda: None  # device time of the last compute, when known
    info: dict = field(default_factory=dict)
    close: Callable[[], None] = lambda: None


def engine_candidate(path: str, backend: str, label: str | None = None) -> Candidate:
    from .runtime import DerainEngine
    from .sidecar import read_sidecar

    engine = DerainEngine(path, backend=backend)
    rec = read_sidecar(path, required=False) or {}
    inner = engine._require()
    info = {"path": str(path), "bytes": Path(path).stat().st_size, "backend": engine.backend_name,
            "precision": rec.get("precision", "unknown"), "io": "uint8" if engine.io.uint8_bgr else "float",
            "fixed_size": [engine.io.height, engine.io.width] if engine.io.height else None}
    return Candidate(
        label=label or f"{Path(path).name} [{engine.backend_name.split(':')[-1].replace('ExecutionProvider', '')}]",
        derain=engine,
        prepare=lambda f: engine.graph_input([f])[0],
        compute=engine.run_graph,
        compute_ms=lambda: getattr(inner, "last_compute_ms", None),
        info=info, close=engine.close)


def torch_candidate(checkpoint: str | None, device: str = "cpu") -> Candidate:
    """PyTorch eager FP32: the baseline row and the FP32 reference outputs."""
    import torch

    from .checkpoint import load_model
    from .evaluate import rgb_to_tensor, torch_derain

    model = load_model(checkpoint).to(device)
    run_rgb = torch_derain(model, device)

    def compute(x):
        with torch.no_grad():
            y = model(x)
        if device != "cpu":
            torch.cuda.synchronize()
        return y

    return Candidate(label=f"pytorch-eager-fp32 [{device}]", derain=lambda f: run_rgb(f[..., ::-1])[..., ::-1],
                     prepare=lambda f: rgb_to_tensor(np.ascontiguousarray(f[..., ::-1]), device), compute=compute,
                     info={"path": checkpoint or "shipped", "backend": f"torch {torch.__version__}",
                           "precision": "fp32", "io": "float", "bytes": None})


# --------------------------------------------------------------------------- latency
def latency_stats(samples_ms: list[float], deadline_ms: float | None) -> dict:
    a = np.asarray(samples_ms, dtype=np.float64)
    mean = float(a.mean())
    out = {"n": int(a.size), "min": float(a.min()), "mean": mean, "median": float(np.median(a)),
           "p90": float(np.percentile(a, 90)), "p95": float(np.percentile(a, 95)), "p99": float(np.percentile(a, 99)),
           "max": float(a.max()), "std": float(a.std()), "cv": float(a.std() / mean) if mean > 0 else 0.0,
           "fps": float(1000.0 / mean) if mean > 0 else 0.0}
    if deadline_ms is not None:
        out["deadline_ms"] = deadline_ms
        out["deadline_misses"] = int((a > deadline_ms).sum())
    return out


def measure_latency(c: Candidate, frame: np.ndarray, frames: int, warmup: int, warmup_seconds: float,
                    deadline_ms: float | None, progress: bool = True) -> dict:
    """Warm up (count and time), then time `frames` end-to-end calls and `frames` engine-only calls."""
    from tqdm import tqdm

    t_end = time.perf_counter() + warmup_seconds
    done = 0
    while done < warmup or time.perf_counter() < t_end:
        c.derain(frame)
        done += 1
    e2e, compute, device = [], [], []
    batch = c.prepare(frame)
    bar = tqdm(total=2 * frames, desc=c.label[:28], unit="frame", leave=False, disable=not progress or None)
    for _ in range(frames):
        t0 = time.perf_counter()
        c.derain(frame)
        e2e.append((time.perf_counter() - t0) * 1000)
        bar.update(1)
    for _ in range(frames):
        t0 = time.perf_counter()
        c.compute(batch)
        compute.append((time.perf_counter() - t0) * 1000)
        d = c.compute_ms()
        if d is not None:
            device.append(d)
        bar.update(1)
    bar.close()
    res = {"warmup_frames": done, "end_to_end_ms": latency_stats(e2e, deadline_ms),
           "engine_ms": latency_stats(compute, None), "end_to_end_samples_ms": [round(v, 3) for v in e2e]}
    if device:
        res["engine_device_ms"] = latency_stats(device, None)
    return res


# --------------------------------------------------------------------------- fidelity
def eval_set(height: int, width: int, clean_dir: str | None = None) -> list:
    """eval_frames' held-out frames (or the user's clean images) at the bench size, under every rain level."""
    from .eval_frames import clean_dir_sources, heldout_sources, rain_frames

    sources = clean_dir_sources(clean_dir) if clean_dir else heldout_sources()
    return rain_frames(sources, size=(height, width))


def pairs_set(folder: str, height: int | None, width: int | None) -> list:
    """Paired frames (e.g. Rain200H), fitted to the engine size when there is one."""
    from .eval_frames import pair_frames

    return pair_frames(folder, (height, width) if height else None)


def measure_fidelity(c: Candidate, frames: list, refs: list[np.ndarray] | None) -> tuple[dict, list[np.ndarray]]:
    """evaluate.fidelity per group for one candidate; returns the table and the RGB outputs (for the grid)."""
    from .evaluate import fidelity

    outs = [np.ascontiguousarray(c.derain(np.ascontiguousarray(f.rainy[..., ::-1]))[..., ::-1]) for f in frames]
    return fidelity(frames, outs, refs), outs


# --------------------------------------------------------------------------- environment
def _cmd(args: list[str]) -> str | None:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def environment() -> dict:
    from .tensorrt_build import jetson_l4t_release

    env: dict = {"python": platform.python_version(), "machine": platform.machine(), "system": platform.platform()}
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    env["cpu"] = cpu or platform.processor() or None
    env["cores"] = os.cpu_count()
    env["cores_usable"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = {}
    for mod in ("numpy", "cv2", "onnxruntime", "onnx", "torch", "tensorrt"):
        if mod in ("torch", "tensorrt") and mod not in sys.modules:
            try:
                __import__(mod)
            except ImportError:
                continue
        m = sys.modules.get(mod)
        if m is None:
            try:
                m = __import__(mod)
            except ImportError:
                continue
        versions[mod] = getattr(m, "__version__", "?")
    env["versions"] = versions
    try:
        import onnxruntime

        env["onnxruntime_providers"] = onnxruntime.get_available_providers()
    except ImportError:
        pass
    if "torch" in sys.modules:
        env["torch_threads"] = sys.modules["torch"].get_num_threads()
    env["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
    smi = _cmd(["nvidia-smi", "--query-gpu=name,clocks.sm,clocks.max.sm,clocks.mem,memory.total,driver_version",
                "--format=csv,noheader"])
    env["gpu"] = smi
    env["jetson_l4t"] = jetson_l4t_release()
    env["jetson_power_mode"] = _cmd(["nvpmodel", "-q"]) if env["jetson_l4t"] else None
    return env


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def gpu_memory_used_mb() -> float | None:
    try:
        from .runtime.tensorrt_backend import cuda_check, import_cudart

        free, total = cuda_check(import_cudart().cudaMemGetInfo())
        return (total - free) / 2**20
    except Exception:
        return None


# --------------------------------------------------------------------------- the run
@dataclass(frozen=True)
class BenchRequest:
    engines: tuple[str, ...]
    backend: str = "auto"
    height: int = 360
    width: int = 640
    frames: int = 30
    warmup: int = 5
    warmup_seconds: float = 1.0
    fps: float | None = 30.0
    pytorch_baseline: bool = True
    checkpoint: str | None = None
    eval_dir: str | None = None
    pairs: tuple[str, ...] = ()
    fidelity: bool = True
    progress: bool = True


def reference_checkpoint(engine_path: str) -> str | None:
    """The FP32 checkpoint an engine came from, followed through its sidecars; None: the shipped one.

    An engine whose source checkpoint is neither beside it nor the shipped model has no known
    reference, and comparing it with the wrong model would mislead: that is an error.
    """
    from ._atomic import sha256_file
    from .checkpoint import SHIPPED_CHECKPOINT
    from .sidecar import read_sidecar

    path = Path(engine_path)
    for _ in range(4):
        rec = read_sidecar(path, required=False)
        if not rec or "source" not in rec:
            return None  # no provenance recorded: the shipped model is the only candidate
        src = rec["source"]
        candidate = path.parent / src.get("file", "")
        if src.get("kind") == "checkpoint":
            if candidate.is_file():
                return str(candidate)
            if SHIPPED_CHECKPOINT.is_file() and src.get("sha256") == sha256_file(SHIPPED_CHECKPOINT):
                return None
            raise DrnEdgeError(
                f"'{engine_path}' was exported from checkpoint '{src.get('file')}' (sha256 {str(src.get('sha256'))[:12]}...), "
                "which is neither next to it nor the shipped model; pass --checkpoint PATH for the FP32 reference, "
                "or --no-pytorch --no-fidelity")
        if not candidate.is_file():
            return None
        path = candidate
    return None


def run_bench(req: BenchRequest, log=print) -> dict:
    if not req.engines and not req.pytorch_baseline:
        raise DrnEdgeError("nothing to benchmark: give --engine FILE (repeatable) or --compare")
    candidates: list[Candidate] = []
    rss0 = peak_rss_mb()
    sizes = set()
    try:
        for e in req.engines:
            c = engine_candidate(e, req.backend)
            candidates.append(c)
            if c.info["fixed_size"]:
                sizes.add(tuple(c.info["fixed_size"]))
        if len(sizes) > 1:
            raise DrnEdgeError(f"engines were built for different sizes {sorted(sizes)}; compare engines of one size")
        h, w = sizes.pop() if sizes else (req.height, req.width)
        ref_ckpt = req.checkpoint or (reference_checkpoint(req.engines[0]) if req.engines else None)
        torch_ok = True
        if req.pytorch_baseline:
            try:
                candidates.insert(0, torch_candidate(ref_ckpt))
            except ImportError:
                torch_ok = False
                log("note: torch is not installed: no PyTorch baseline row and no FP32 reference")
        gpu_mem = gpu_memory_used_mb()
        frames = eval_set(h, w, req.eval_dir) if req.fidelity else []
        for folder in req.pairs:
            frames += pairs_set(folder, h, w)
        refs = None
        if req.fidelity and torch_ok and (req.pytorch_baseline or ref_ckpt):
            base = candidates[0] if req.pytorch_baseline else torch_candidate(ref_ckpt)
            refs = measure_fidelity(base, frames, None)[1]
        timing_frame = np.ascontiguousarray((frames or eval_set(h, w))[len(frames) // 2 if frames else 4].rainy[..., ::-1])
        deadline = 1000.0 / req.fps if req.fps else None
        rows = []
        grid_outputs = {}
        for c in candidates:
            log(f"timing {c.label} at {h}x{w} ...")
            row = {"label": c.label, **c.info}
            row["latency"] = measure_latency(c, timing_frame, req.frames, req.warmup, req.warmup_seconds, deadline,
                                             req.progress)
            if req.fidelity:
                row["fidelity"], outs = measure_fidelity(c, frames, refs)
                grid_outputs[c.label] = outs
            row["peak_rss_mb"] = peak_rss_mb()
            rows.append(row)
        first = rows[0]["latency"]["end_to_end_ms"]["median"]
        first_engine = rows[0]["latency"]["engine_ms"]["median"]
        for row in rows:
            row["speedup_vs_first"] = first / row["latency"]["end_to_end_ms"]["median"]
            row["engine_speedup_vs_first"] = first_engine / row["latency"]["engine_ms"]["median"]
            if req.fidelity and refs is not None and req.pytorch_baseline:
                base = rows[0]["fidelity"]
                row["drop_db"] = {lvl: base[lvl]["psnr"] - v["psnr"] for lvl, v in row["fidelity"].items()}
        noisy = [r["label"] for r in rows if r["latency"]["end_to_end_ms"]["cv"] > NOISY_CV]
        report = {
            "schema_version": SCHEMA_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "size": [h, w],
            "settings": {"frames": req.frames, "warmup": req.warmup, "warmup_seconds": req.warmup_seconds,
                         "fps": req.fps, "backend": req.backend, "eval": req.eval_dir or "held-out photos",
                         "pairs": list(req.pairs), "reference": ref_ckpt or "shipped checkpoint"},
            "environment": environment(),
            "memory": {"peak_rss_mb": peak_rss_mb(), "rss_before_engines_mb": rss0, "gpu_used_mb": gpu_mem},
            "rows": rows,
            "warnings": [f"latency of {', '.join(noisy)} varied by more than {NOISY_CV:.0%} (coefficient of "
                         "variation): the machine was noisy; rerun on an idle machine before trusting ratios"] if noisy else [],
        }
        report["_grid"] = (frames, grid_outputs)
        return report
    finally:
        for c in candidates:
            c.close()


# --------------------------------------------------------------------------- output
def public(report: dict) -> dict:
    return {k: v for k, v in report.items() if not k.startswith("_")}


def format_table(report: dict) -> str:
    h, w = report["size"]
    lines = [f"latency at {h}x{w} ({report['settings']['frames']} frames after warm-up; ms)",
             f"{'engine':<34}{'median':>8}{'mean':>8}{'p90':>8}{'p99':>8}{'max':>8}{'cv':>6}{'fps':>7}"
             f"{'engine':>8}{'miss':>6}{'x first':>8}"]
    for r in report["rows"]:
        e, g = r["latency"]["end_to_end_ms"], r["latency"]["engine_ms"]
        miss = f"{e.get('deadline_misses', 0)}" if "deadline_misses" in e else "-"
        lines.append(f"{r['label'][:33]:<34}{e['median']:>8.1f}{e['mean']:>8.1f}{e['p90']:>8.1f}{e['p99']:>8.1f}"
                     f"{e['max']:>8.1f}{e['cv']:>6.2f}{e['fps']:>7.1f}{g['median']:>8.1f}{miss:>6}{r['speedup_vs_first']:>8.2f}")
    if report["settings"]["fps"]:
        lines.append(f"('miss': frames over the {1000 / report['settings']['fps']:.1f} ms deadline of "
                     f"{report['settings']['fps']:g} fps; 'engine': graph only, without frame pre/post-processing)")
    if report["rows"] and "fidelity" in report["rows"][0]:
        levels = list(report["rows"][0]["fidelity"])
        lines.append("")
        lines.append("fidelity: derained PSNR dB vs clean (drop vs PyTorch FP32) | PSNR vs FP32 output")
        lines.append(f"{'engine':<34}" + "".join(f"{lvl[:20]:>24}" for lvl in levels))
        rainy = "".join(f"{report['rows'][0]['fidelity'][lvl]['rainy_psnr']:>24.2f}" for lvl in levels)
        lines.append(f"{'(rainy input)':<34}{rainy}")
        for r in report["rows"]:
            cells = ""
            for lvl in levels:
                f = r["fidelity"][lvl]
                drop = r.get("drop_db", {}).get(lvl)
                vs = f.get("psnr_vs_fp32")
                cell = f"{f['psnr']:.2f}" + (f" ({round(-drop, 2) + 0.0:+.2f})" if drop is not None else "") + \
                    (f" | {vs:.1f}" if vs is not None else "")
                cells += f"{cell:>24}"
            lines.append(f"{r['label'][:33]:<34}{cells}")
    lines.append("")
    lines.append(f"peak RSS {report['memory']['peak_rss_mb']:.0f} MB" +
                 (f", GPU memory in use {report['memory']['gpu_used_mb']:.0f} MB" if report["memory"]["gpu_used_mb"] else ""))
    env = report["environment"]
    lines.append(f"machine: {env.get('cpu')} ({env.get('cores_usable')} cores)" + (f", GPU {env['gpu']}" if env.get("gpu") else ""))
    for wmsg in report["warnings"]:
        lines.append(f"WARNING: {wmsg}")
    return "\n".join(lines)


def to_markdown(report: dict) -> str:
    h, w = report["size"]
    env = report["environment"]
    out = [f"### {h}x{w} on {env.get('cpu')} ({env.get('cores_usable')} cores)" + (f", {env['gpu']}" if env.get("gpu") else ""),
           "", f"Measured {report['created']} with drn-bench; {report['settings']['frames']} timed frames per engine.", "",
           "| engine | precision | median ms | p99 ms | fps | engine-only ms | speed-up vs first | size MB |",
           "|---|---|---:|---:|---:|---:|---:|---:|"]
    for r in report["rows"]:
        e, g = r["latency"]["end_to_end_ms"], r["latency"]["engine_ms"]
        size = f"{r['bytes'] / 1e6:.2f}" if r.get("bytes") else "-"
        out.append(f"| {r['label']} | {r.get('precision')} | {e['median']:.1f} | {e['p99']:.1f} | {e['fps']:.2f} | "
                   f"{g['median']:.1f} | {r['speedup_vs_first']:.2f} | {size} |")
    if report["rows"] and "fidelity" in report["rows"][0]:
        levels = list(report["rows"][0]["fidelity"])
        out += ["", "| engine | " + " | ".join(f"{lvl} PSNR (drop)" for lvl in levels) + " | " +
                " | ".join(f"{lvl} SSIM" for lvl in levels) + " |", "|---|" + "---:|" * (2 * len(levels))]
        out.append("| rainy input | " + " | ".join(f"{report['rows'][0]['fidelity'][lvl]['rainy_psnr']:.2f}" for lvl in levels)
                   + " | " + " | ".join(f"{report['rows'][0]['fidelity'][lvl]['rainy_ssim']:.3f}" for lvl in levels) + " |")
        for r in report["rows"]:
            cells = []
            for lvl in levels:
                drop = r.get("drop_db", {}).get(lvl)
                cells.append(f"{r['fidelity'][lvl]['psnr']:.2f}" + (f" ({round(-drop, 2) + 0.0:+.2f})" if drop is not None else ""))
            out.append(f"| {r['label']} | " + " | ".join(cells) + " | " +
                       " | ".join(f"{r['fidelity'][lvl]['ssim']:.3f}" for lvl in levels) + " |")
    for wmsg in report["warnings"]:
        out += ["", f"> Warning: {wmsg}"]
    return "\n".join(out) + "\n"


def plot_latency(report: dict, path: str) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise DrnEdgeError("--plot needs matplotlib: pip install 'drn-edge[bench]'") from None
    from ._atomic import atomic_path

    rows = report["rows"]
    fig, ax = plt.subplots(figsize=(8, 0.6 * len(rows) + 1.8))
    samples, labels = [r["latency"]["end_to_end_samples_ms"] for r in rows], [r["label"][:40] for r in rows]
    try:  # matplotlib >= 3.10
        ax.boxplot(samples, orientation="horizontal", whis=(1, 99), tick_labels=labels)
    except TypeError:
        ax.boxplot(samples, vert=False, whis=(1, 99), labels=labels)
    if report["settings"]["fps"]:
        ax.axvline(1000 / report["settings"]["fps"], color="red", linestyle="--", label=f"{report['settings']['fps']:g} fps deadline")
        ax.legend(loc="lower right")
    ax.set_xlabel("end-to-end frame latency, ms (box: quartiles, whiskers: p1..p99)")
    h, w = report["size"]
    ax.set_title(f"drn-bench {h}x{w} — {report['environment'].get('cpu') or ''}"[:90], fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    plt.close(fig)


def image_grid(report: dict, path: str, max_rows: int = 3) -> None:
    """rainy | each engine's output | clean, one row per frame (the medium-rain frames first); .jpg keeps it small."""
    import cv2

    from ._atomic import write_bytes

    frames, outputs = report["_grid"]
    if not frames:
        raise DrnEdgeError("--grid needs the fidelity run (do not pass --no-fidelity)")
    order = sorted(range(len(frames)), key=lambda i: (frames[i].group != "medium", i))[:max_rows]
    labels = ["rainy"] + list(outputs) + ["clean"]
    rows = []
    for i in order:
        tiles = [frames[i].rainy] + [outputs[k][i] for k in outputs] + [frames[i].clean]
        tiles = [np.ascontiguousarray(t[..., ::-1]) for t in tiles]  # RGB -> BGR for OpenCV
        th = 240
        tiles = [cv2.resize(t, (int(t.shape[1] * th / t.shape[0]), th), interpolation=cv2.INTER_AREA) for t in tiles]
        for t, label in zip(tiles, labels):
            cv2.putText(t, label[:30], (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(t, label[:30], (6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
        rows.append(np.hstack(tiles))
    suffix = Path(path).suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, 85] if suffix in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(suffix if suffix in (".png", ".jpg", ".jpeg") else ".png", np.vstack(rows), params)
    write_bytes(path, data.tobytes())
