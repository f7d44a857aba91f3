"""drn-bench streams --cameras N --fps F --seconds T: can one engine keep up with N cameras, and what does it drop?

N paced sources (held-out rainy frames at the bench size, each camera its own frames, started evenly
spread over one frame period as free-running cameras are) feed one
engine through drn_edge.runtime.streaming.StreamRunner for T seconds, exactly as camera software
would. Per stream: achieved fps, frames dropped or passed through, and capture-to-output latency.
Torch-free.
"""
from __future__ import annotations

import itertools
import threading
import time

import numpy as np

from drn_edge.bench.candidates import engine_candidate
from drn_edge.bench.env import environment, peak_rss_mb
from drn_edge.bench.frame_bench import eval_set
from drn_edge.bench.report import pyplot, save_figure
from drn_edge.bench.requests import StreamBenchRequest
from drn_edge.progress import progress_bar
from drn_edge.runtime.streaming import StreamRunner

__all__ = ["StreamBenchRequest", "run_stream_bench", "format_stream_table", "stream_markdown", "plot_streams"]


def _camera_frames(h: int, w: int, streams: int) -> list[list[np.ndarray]]:
    """Each camera cycles through its own held-out rainy frames (BGR), so batches mix different content."""
    frames = [np.ascontiguousarray(f.rainy[..., ::-1]) for f in eval_set(h, w)]
    return [frames[i::streams] or frames for i in range(streams)]


def run_stream_bench(req: StreamBenchRequest, log=print) -> dict:
    cand = engine_candidate(req.engine, req.backend, threads=req.threads)
    engine = cand.derain
    try:
        h, w = cand.info["fixed_size"] or (req.height, req.width)
        cameras = _camera_frames(h, w, req.cameras)
        for f in cameras[0][:3]:  # warm-up outside the measurement
            engine(f)
        per_stream = int(round(req.fps * req.seconds))
        samples: dict[str, list[tuple[float, float]]] = {f"cam{i}": [] for i in range(req.cameras)}
        lock = threading.Lock()
        t0 = time.monotonic()

        def sink(result) -> None:
            with lock:
                samples[result.stream].append((result.capture_time - t0, result.latency_ms))

        log(f"{req.cameras} stream(s) x {req.fps:g} fps for {req.seconds:g} s into {cand.label} at {h}x{w} ...")
        runner = StreamRunner(engine, on_error="passthrough", max_batch=req.max_batch)
        try:
            for i in range(req.cameras):
                runner.add_source(f"cam{i}", itertools.islice(itertools.cycle(cameras[i]), per_stream), sink,
                                  live=True, fps=req.fps, policy=req.policy, queue_size=req.queue_size,
                                  start_after=i / (req.fps * req.cameras))  # free-running cameras: out of phase
            _wait_with_progress(runner, req.seconds, req.progress)
        finally:
            stats = runner.close()
        wall = time.monotonic() - t0
    finally:
        cand.close()
    rows = []
    for st in stats.values():
        row = st.as_dict()
        row["offered_fps"] = req.fps
        row["achieved_fps"] = st.frames_out / wall if wall > 0 else 0.0
        row["derained_fps"] = st.derained / wall if wall > 0 else 0.0
        rows.append(row)
    total_in = sum(r["frames_in"] for r in rows)
    return {
        "kind": "streams",
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "size": [h, w],
        "engine": {"label": cand.label, **cand.info},
        "settings": {"streams": req.cameras, "fps": req.fps, "seconds": req.seconds, "policy": req.policy,
                     "queue_size": req.queue_size, "max_batch": runner.max_batch, "threads": req.threads,
                     "backend": req.backend},
        "wall_s": wall,
        "streams": rows,
        "total": {"frames_in": total_in, "derained": sum(r["derained"] for r in rows),
                  "dropped": sum(r["dropped"] for r in rows), "passed_through": sum(r["passed_through"] for r in rows),
                  "derained_fps": sum(r["derained"] for r in rows) / wall if wall > 0 else 0.0},
        "environment": environment(),
        "memory": {"peak_rss_mb": peak_rss_mb()},
        "samples": samples,  # (capture time s, latency ms) per delivered frame: for the plot; not in the JSON
    }


def _wait_with_progress(runner, seconds: float, progress: bool) -> None:
    if not progress:
        runner.wait(seconds + 60)
        return

    start = time.monotonic()
    with progress_bar(total=round(seconds), desc="streams", unit="s") as bar:
        while not runner.wait(0.5):
            elapsed = time.monotonic() - start
            bar.n = min(round(seconds), int(elapsed))
            s = runner.stats().values()
            bar.set_postfix(out=sum(x.frames_out for x in s), dropped=sum(x.dropped for x in s), refresh=True)
            if elapsed > seconds + 60:
                break
        bar.n = round(seconds)
        bar.refresh()


def format_stream_table(report: dict) -> str:
    h, w = report["size"]
    st = report["settings"]
    lines = [f"{st['streams']} stream(s) x {st['fps']:g} fps for {st['seconds']:g} s at {h}x{w} into "
             f"{report['engine']['label']} (policy {st['policy']}, queue {st['queue_size']}, batch <= {st['max_batch']})",
             f"{'stream':<8}{'in':>7}{'out':>7}{'derained':>9}{'raw':>6}{'dropped':>8}{'fps':>7}"
             f"{'lat min':>9}{'median':>8}{'p99':>8}{'max':>8}  (ms)"]
    for r in report["streams"]:
        lat = r["latency_ms"] or {"min": float("nan"), "median": float("nan"), "p99": float("nan"), "max": float("nan")}
        lines.append(f"{r['name']:<8}{r['frames_in']:>7}{r['frames_out']:>7}{r['derained']:>9}{r['passed_through']:>6}"
                     f"{r['dropped']:>8}{r['achieved_fps']:>7.1f}{lat['min']:>9.1f}{lat['median']:>8.1f}{lat['p99']:>8.1f}"
                     f"{lat['max']:>8.1f}" + (f"  error: {r['error']}" if r["error"] else ""))
    t = report["total"]
    lines.append(f"all: {t['derained_fps']:.1f} derained frames/s; {t['dropped']} of {t['frames_in']} dropped, "
                 f"{t['passed_through']} passed through raw")
    env = report["environment"]
    lines.append(f"machine: {env.get('cpu')} ({env.get('cores_usable')} cores)" + (f", GPU {env['gpu']}" if env.get("gpu") else ""))
    return "\n".join(lines)


def stream_markdown(report: dict) -> str:
    h, w = report["size"]
    st, env = report["settings"], report["environment"]
    out = [f"### {st['streams']} x {st['fps']:g} fps at {h}x{w}: {report['engine']['label']} on {env.get('cpu')} "
           f"({env.get('cores_usable')} cores)" + (f", {env['gpu']}" if env.get("gpu") else ""), "",
           f"Measured {report['created']} with drn-bench streams --cameras {st['streams']} --fps {st['fps']:g} --seconds "
           f"{st['seconds']:g} (policy {st['policy']}, queue {st['queue_size']}, batch <= {st['max_batch']}).", "",
           "| stream | in | derained | raw | dropped | fps out | latency min | median | p99 | max ms |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in report["streams"]:
        lat = r["latency_ms"]
        cells = [f"{lat[k]:.0f}" for k in ("min", "median", "p99", "max")] if lat else ["-"] * 4
        out.append(f"| {r['name']} | {r['frames_in']} | {r['derained']} | {r['passed_through']} | {r['dropped']} | "
                   f"{r['achieved_fps']:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def plot_streams(report: dict, path: str) -> None:
    """Capture-to-output latency of every delivered frame over the run, one colour per stream."""
    fig, ax = pyplot().subplots(figsize=(8, 3.6))
    for name, pts in report["samples"].items():
        if pts:
            t, lat = zip(*pts)
            ax.plot(t, lat, ".", markersize=2, label=name)
    ax.set_xlabel("capture time, s")
    ax.set_ylabel("capture-to-output latency, ms")
    st = report["settings"]
    ax.set_title(f"{st['streams']} x {st['fps']:g} fps, {report['engine']['label']} — {report['environment'].get('cpu')}"[:95],
                 fontsize=9)
    ax.legend(loc="upper right", markerscale=4, fontsize=8)
    fig.tight_layout()
    save_figure(fig, path)
