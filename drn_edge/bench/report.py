"""drn-bench's report writers: console table, Markdown, latency plot, image grid. Measuring is in bench.py."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from drn_edge.bench.frame_bench import BenchResult
from drn_edge.errors import DrnEdgeError
from drn_edge.outputs import atomic_path, write_bytes
from drn_edge.rain import LEVEL_NAMES

__all__ = ["format_table", "to_markdown", "plot_latency", "image_grid", "pyplot", "save_figure", "write_still"]

# The one convention for fidelity drops, in every table, JSON field and the README (as drn-export's).
DROP_RULE = "drop = PyTorch FP32 PSNR - this engine's PSNR, in dB; positive = worse"


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
    for r in report["rows"]:
        split, batch = r["latency"].get("transfer_split_ms"), r["latency"].get("batch")
        text = split if isinstance(split, str) else " / ".join(f"{k} {v:.2f}" for k, v in split.items()) + " ms"
        lines.append(f"  {r['label'][:40]}: host-to-device / compute / device-to-host: {text}"
                     + (f"; batch {batch['size']}: {batch['frames_per_s']:.1f} frames/s" if batch else ""))
    if report["settings"]["fps"]:
        lines.append(f"('miss': frames over the {1000 / report['settings']['fps']:.1f} ms deadline of "
                     f"{report['settings']['fps']:g} fps; 'engine': graph only, without frame pre/post-processing)")
    if report["rows"] and "fidelity" in report["rows"][0]:
        levels = list(report["rows"][0]["fidelity"])
        lines.append("")
        has_drop = any(r.get("drop_db") for r in report["rows"])
        lines.append("fidelity: derained PSNR dB vs clean" + (f" ({DROP_RULE})" if has_drop else "")
                     + (" | PSNR vs FP32 output" if any("psnr_vs_fp32" in f for r in report["rows"]
                                                        for f in r["fidelity"].values()) else ""))
        table = []
        for r in report["rows"]:
            cells = []
            for lvl in levels:
                f = r["fidelity"][lvl]
                drop = r.get("drop_db", {}).get(lvl)
                vs = f.get("psnr_vs_fp32")
                cells.append(f"{f['psnr']:.2f}" + (f" (drop {round(drop, 2) + 0.0:+.2f})" if drop is not None else "")
                             + (f" | {vs:.1f}" if vs is not None else ""))
            table.append((r["label"][:33], cells))
        width = 2 + max([len(lvl[:20]) for lvl in levels] + [len(c) for _, cells in table for c in cells])
        lines.append(f"{'engine':<34}" + "".join(f"{lvl[:20]:>{width}}" for lvl in levels))
        lines.append(f"{'(rainy input)':<34}" + "".join(f"{report['rows'][0]['fidelity'][lvl]['rainy_psnr']:>{width}.2f}"
                                                       for lvl in levels))
        for label, cells in table:
            lines.append(f"{label:<34}" + "".join(f"{c:>{width}}" for c in cells))
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
        out += ["", f"Drop: {DROP_RULE}.", "",
                "| engine | " + " | ".join(f"{lvl} PSNR (drop)" for lvl in levels) + " | " +
                " | ".join(f"{lvl} SSIM" for lvl in levels) + " |", "|---|" + "---:|" * (2 * len(levels))]
        out.append("| rainy input | " + " | ".join(f"{report['rows'][0]['fidelity'][lvl]['rainy_psnr']:.2f}" for lvl in levels)
                   + " | " + " | ".join(f"{report['rows'][0]['fidelity'][lvl]['rainy_ssim']:.3f}" for lvl in levels) + " |")
        for r in report["rows"]:
            cells = []
            for lvl in levels:
                drop = r.get("drop_db", {}).get(lvl)
                cells.append(f"{r['fidelity'][lvl]['psnr']:.2f}" + (f" ({round(drop, 2) + 0.0:+.2f})" if drop is not None else ""))
            out.append(f"| {r['label']} | " + " | ".join(cells) + " | " +
                       " | ".join(f"{r['fidelity'][lvl]['ssim']:.3f}" for lvl in levels) + " |")
    for wmsg in report["warnings"]:
        out += ["", f"> Warning: {wmsg}"]
    return "\n".join(out) + "\n"


def pyplot():
    """matplotlib.pyplot on the file-only Agg backend, or a clear error naming the extra that installs it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise DrnEdgeError("--plot needs matplotlib: pip install 'drn-edge[bench]'") from None
    return plt


def save_figure(fig, path: str) -> None:
    """Write a figure as PNG atomically and free it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    pyplot().close(fig)


def write_still(path: str, image_bgr: np.ndarray) -> None:
    """An image as .jpg (quality 85, small) or .png, written atomically."""
    import cv2

    suffix = Path(path).suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, 85] if suffix in (".jpg", ".jpeg") else []
    ok, data = cv2.imencode(suffix if suffix in (".png", ".jpg", ".jpeg") else ".png", image_bgr, params)
    write_bytes(path, data.tobytes())


def plot_latency(report: dict, path: str) -> None:
    plt = pyplot()
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
    save_figure(fig, path)


def labelled(tile: np.ndarray, label: str, bar: int = 26) -> np.ndarray:
    """A label on a dark bar above the tile, shrunk to fit its width (labels never overlap the picture or each other)."""
    import cv2

    strip = np.zeros((bar, tile.shape[1], 3), np.uint8)
    scale = 0.5
    while scale > 0.25 and cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] > tile.shape[1] - 8:
        scale -= 0.05
    cv2.putText(strip, label, (4, bar - 8), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    return np.vstack([strip, tile])


def image_grid(result: BenchResult, path: str, max_rows: int = 3) -> None:
    """rainy | each engine's output | clean, one row per frame (the medium-rain frames first); .jpg keeps it small."""
    import cv2

    frames, outputs = result.frames, result.outputs
    if not frames:
        raise DrnEdgeError("--grid needs the fidelity run (do not pass --no-fidelity)")
    # The user's own frames first (paired sets, or --eval clean frames under medium rain), else medium rain.
    user = [i for i, f in enumerate(frames) if f.group not in LEVEL_NAMES]
    order = (user or sorted(range(len(frames)), key=lambda i: (frames[i].group != "medium", i)))[:max_rows]
    labels = ["rainy"] + list(outputs) + ["clean"]
    rows = []
    for i in order:
        tiles = [frames[i].rainy] + [outputs[k][i] for k in outputs] + [frames[i].clean]
        tiles = [np.ascontiguousarray(t[..., ::-1]) for t in tiles]  # RGB -> BGR for OpenCV
        th = 240
        tiles = [cv2.resize(t, (int(t.shape[1] * th / t.shape[0]), th), interpolation=cv2.INTER_AREA) for t in tiles]
        rows.append(np.hstack([labelled(t, label) for t, label in zip(tiles, labels)]))
    write_still(path, np.vstack(rows))
