"""drn-bench: latency (end-to-end and engine-only) and fidelity drop, for several engines side by side.

Speed-ups are claimed only as ratios measured in one process on the same frames, never as
absolute times from different runs. The JSON report follows drn_edge/bench/schema.json.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from drn_edge.bench.candidates import Candidate, choose_reference, common_size, engine_candidates, torch_available, torch_candidate
from drn_edge.bench.env import environment, gpu_memory_used_mb, peak_rss_mb  # noqa: F401  (re-exported)
from drn_edge.bench.requests import BenchRequest
from drn_edge.detection.check import detection_check, detection_frames
from drn_edge.detection.labels import load_labels
from drn_edge.evaluation.eval_frames import clean_dir_sources, heldout_sources, pair_frames, rain_frames
from drn_edge.progress import progress_bar

SCHEMA_VERSION = 1
NOISY_CV = 0.15


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
                    deadline_ms: float | None, progress: bool = True, batch_size: int = 1) -> dict:
    """Warm up (count and time), then time `frames` end-to-end calls and `frames` engine-only calls;
    with batch_size > 1, also the throughput of end-to-end calls on lists of that many frames."""
    t_end = time.perf_counter() + warmup_seconds
    done = 0
    while done < warmup or time.perf_counter() < t_end:
        c.derain(frame)
        done += 1
    e2e, compute, device, splits = [], [], [], []
    batch = c.prepare(frame)
    bar = progress_bar(total=2 * frames, desc=c.label, leave=False, enabled=progress)
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
        split = c.split_ms()
        if split:
            splits.append(split)
        bar.update(1)
    bar.close()
    res = {"warmup_frames": done, "end_to_end_ms": latency_stats(e2e, deadline_ms),
           "engine_ms": latency_stats(compute, None), "end_to_end_samples_ms": [round(v, 3) for v in e2e]}
    if device:
        res["engine_device_ms"] = latency_stats(device, None)
    res["transfer_split_ms"] = ({k: float(np.median([sp[k] for sp in splits])) for k in ("h2d", "compute", "d2h")}
                                if splits else "not measurable on this backend")
    if batch_size > 1:
        many = [frame] * batch_size
        rounds = max(1, frames // batch_size)
        t0 = time.perf_counter()
        run_many = c.derain_many or (lambda fs: [c.derain(f) for f in fs])
        for _ in range(rounds):
            run_many(many)
        seconds = time.perf_counter() - t0
        res["batch"] = {"size": batch_size, "rounds": rounds, "frames_per_s": rounds * batch_size / seconds,
                        "ms_per_batch": seconds * 1000 / rounds}
    return res


def latency_warnings(label: str, latency: dict) -> list[str]:
    """What a reader of these figures should know: too few frames for a percentile, engine-only above end-to-end."""
    out = []
    n = latency["end_to_end_ms"]["n"]
    for pct, need in ((99, 100), (95, 20), (90, 10)):
        if n < need:
            out.append(f"{label}: p{pct} from {n} timed frames is not meaningful (needs at least {need}; use --frames "
                       f"{need})")
            break
    e2e, eng = latency["end_to_end_ms"]["median"], latency["engine_ms"]["median"]
    if eng > e2e * 1.05:
        out.append(f"{label}: engine-only median {eng:.1f} ms exceeds end-to-end {e2e:.1f} ms: the machine was busy "
                   "or clocks changed between the two measurements; rerun on an idle machine")
    return out


# --------------------------------------------------------------------------- fidelity
def eval_set(height: int, width: int, clean_dir: str | None = None) -> list:
    """evaluation.eval_frames' held-out frames (or the user's clean images) at the bench size, under every rain level."""
    sources = clean_dir_sources(clean_dir) if clean_dir else heldout_sources()
    return rain_frames(sources, size=(height, width))


def pairs_set(folder: str, height: int | None, width: int | None) -> list:
    """Paired frames (e.g. Rain200H), fitted to the engine size when there is one."""
    return pair_frames(folder, (height, width) if height else None)


def measure_fidelity(c: Candidate, frames: list, refs: list[np.ndarray] | None) -> tuple[dict, list[np.ndarray]]:
    """evaluate.fidelity per group for one candidate; returns the table and the RGB outputs (for the grid)."""
    # lazy: pulls in OpenCV, which importing this module does not
    from drn_edge.evaluation.fidelity import fidelity

    outs = rgb_outputs(c, frames)
    return fidelity(frames, outs, refs), outs


def rgb_outputs(c: Candidate, frames: list) -> list[np.ndarray]:
    """The candidate's output for every frame, as RGB (the candidates take and return BGR)."""
    return [np.ascontiguousarray(c.derain(np.ascontiguousarray(f.rainy[..., ::-1]))[..., ::-1]) for f in frames]


# --------------------------------------------------------------------------- the run
@dataclass
class BenchResult:
    """What a bench run measured: the JSON report (drn_edge/bench/schema.json) plus the frames and each
    engine's outputs, which the image grid needs and the JSON does not carry."""

    report: dict
    frames: list = field(default_factory=list)
    outputs: dict[str, list[np.ndarray]] = field(default_factory=dict)
    detection_frames: list = field(default_factory=list)  # the detection check's frames (for its grid)


def _detection(req: BenchRequest, candidates: list[Candidate], rows: list[dict], size, log) -> tuple[dict, list]:
    """The detection check over every candidate; the reference is the first FP32 engine, else the PyTorch row."""
    frames = detection_frames(req.detect_frames or ((req.eval_dir,) if req.eval_dir else ()),
                              None if req.labels else size, req.detect_max_frames)
    labels = None
    if req.labels:
        labels = load_labels(req.labels, {f.name: f.clean.shape[:2] for f in frames})
    derainers = {c.label: (lambda rgb, c=c: np.ascontiguousarray(c.derain(np.ascontiguousarray(rgb[..., ::-1]))[..., ::-1]))
                 for c in candidates}
    fp32 = [r["label"] for r in rows if r.get("precision") == "fp32"]
    reference = fp32[0] if fp32 else (rows[0]["label"] if rows[0]["label"].startswith("pytorch") else None)
    log(f"detection check on {len(frames)} rainy frames, {len(derainers)} engine(s) ...")
    return detection_check(req.detector, frames, derainers, reference=reference, labels=labels,
                           class_names=getattr(req.detector, "class_names", ()), progress=req.progress), frames


def busy_machine_warning(samples: int = 5, interval_s: float = 0.1) -> str | None:
    """A note when other processes keep the CPUs busy right before timing: the runnable count of /proc/loadavg,
    sampled a few times (the 1-minute average would also count a drn-export that has just finished)."""
    cores = os.cpu_count() or 1
    counts = []
    for _ in range(samples):
        try:
            running = int(open("/proc/loadavg").read().split()[3].split("/")[0]) - 1  # minus this process
        except (OSError, ValueError, IndexError):
            return None
        counts.append(running)
        time.sleep(interval_s)
    others = min(counts)
    if others >= max(1, cores // 2):
        return (f"the machine is busy before measuring ({others} other runnable process(es) on {cores} cores): "
                "latencies will be high and noisy; rerun on an idle machine before trusting them")
    return None


def run_bench(req: BenchRequest, log=print) -> BenchResult:
    candidates: list[Candidate] = []
    rss0 = peak_rss_mb()
    busy = busy_machine_warning()
    if busy:
        log(f"warning: {busy}")
    try:
        candidates += engine_candidates(req.engines, req.backend, req.threads)
        h, w = common_size(candidates, (req.height, req.width))
        needs_reference = req.pytorch_baseline or req.fidelity  # latency alone needs no FP32 checkpoint
        ref_ckpt = choose_reference(req.engines, req.checkpoint) if needs_reference else req.checkpoint
        torch_ok = torch_available()
        if not torch_ok:
            log("note: torch is not installed: no PyTorch baseline row and no FP32 reference (fidelity vs clean only)")
        if req.pytorch_baseline and torch_ok:
            # lazy: pulls in torch, which importing this module does not
            from drn_edge.model.drn import set_torch_threads

            set_torch_threads(req.threads)
            candidates.insert(0, torch_candidate(ref_ckpt))
        gpu_mem = gpu_memory_used_mb()
        frames = eval_set(h, w, req.eval_dir) if req.fidelity else []
        for folder in req.pairs:
            frames += pairs_set(folder, h, w)
        refs = None
        if req.fidelity and torch_ok and (req.pytorch_baseline or ref_ckpt):
            base = candidates[0] if req.pytorch_baseline else torch_candidate(ref_ckpt)
            refs = rgb_outputs(base, frames)
        timing_frame = np.ascontiguousarray((frames or eval_set(h, w))[len(frames) // 2 if frames else 4].rainy[..., ::-1])
        deadline = 1000.0 / req.fps if req.fps else None
        rows = []
        grid_outputs = {}
        for c in candidates:
            log(f"timing {c.label} at {h}x{w} ...")
            row = {"label": c.label, **c.info}
            row["latency"] = measure_latency(c, timing_frame, req.frames, req.warmup, req.warmup_seconds, deadline,
                                             req.progress, req.batch)
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
        detection, detection_frames = (_detection(req, candidates, rows, (h, w), log) if req.detector is not None
                                       else (None, []))
        noisy = [r["label"] for r in rows if r["latency"]["end_to_end_ms"]["cv"] > NOISY_CV]
        warnings = [w for r in rows for w in latency_warnings(r["label"], r["latency"])]
        report = {
            "schema_version": SCHEMA_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "size": [h, w],
            "settings": {"frames": req.frames, "warmup": req.warmup, "warmup_seconds": req.warmup_seconds,
                         "fps": req.fps, "backend": req.backend, "eval": req.eval_dir or "held-out frames",
                         "pairs": list(req.pairs), "reference": ref_ckpt or "shipped checkpoint",
                         "threads": req.threads, "batch": req.batch},
            "environment": environment(),
            "memory": {"peak_rss_mb": peak_rss_mb(), "rss_before_engines_mb": rss0, "gpu_used_mb": gpu_mem},
            "rows": rows,
            "warnings": ([busy] if busy else []) + warnings + (
                [f"latency of {', '.join(noisy)} varied by more than {NOISY_CV:.0%} (coefficient of variation): the "
                 "machine was noisy; rerun on an idle machine before trusting ratios"] if noisy else []),
        }
        if detection is not None:
            report["detection"] = detection
        return BenchResult(report, frames, grid_outputs, detection_frames)
    finally:
        for c in candidates:
            c.close()
