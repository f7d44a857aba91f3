"""drn-bench video CLIP: fidelity per frame and temporal stability of derained video.

A clean clip (e.g. the bundled-with-shared dashcam clip) gets rain that moves (drn_edge.rain.video,
seeded), every engine derains it frame by frame, and each version of the clip is scored against
the clean one: per-frame PSNR/SSIM, and the warping error of drn_edge.evaluation.temporal (Lai et al. 2018)
with motion measured on the clean clip. The clean clip's own warping error is the floor (optical
flow is never exact); a derainer's figure above it is the flicker it adds.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from drn_edge.bench.candidates import choose_reference, common_size, engine_candidates, torch_available, torch_candidate
from drn_edge.bench.env import environment
from drn_edge.bench.report import labelled, pyplot, save_figure, write_still
from drn_edge.bench.requests import VideoBenchRequest
from drn_edge.errors import ImageError
from drn_edge.evaluation.eval_frames import fit_to_size
from drn_edge.progress import progress_bar
from drn_edge.runtime.apply import capture_rate_and_count
from drn_edge.runtime.sources import is_live_source, open_live_source
from drn_edge.runtime.video_out import VideoFile

__all__ = ["VideoBenchRequest", "VideoBenchResult", "read_clip", "run_video_bench", "format_video_table",
           "video_markdown", "plot_video", "write_side_by_side", "first_frames_image"]


@dataclass
class VideoBenchResult:
    report: dict
    clean: list[np.ndarray] = field(default_factory=list)     # BGR frames
    rainy: list[np.ndarray] = field(default_factory=list)
    outputs: dict[str, list[np.ndarray]] = field(default_factory=dict)
    fps: float = 30.0


def read_clip(path: str | os.PathLike, height: int, width: int, max_frames: int) -> tuple[list[np.ndarray], float]:
    """Up to max_frames BGR frames of a video file or live source, centre-cropped and resized to height x width;
    and its fps (30 when the source does not say)."""
    import cv2

    live = is_live_source(str(path))
    if not live and not Path(path).is_file():
        raise ImageError(f"clip '{path}' does not exist; give a clean video file (e.g. ../shared/data/road/permissive/"
                         "lanelines_p1/solidWhiteRight.mp4) or a live source (0, /dev/video0, rtsp://...)")
    cap = open_live_source(path) if live else cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise ImageError(f"cannot open video '{path}' (not a video OpenCV can decode)")
        fps = capture_rate_and_count(cap, f"clip '{path}'")[0]
        frames = []
        while len(frames) < max_frames:
            ok, frame = cap.read()
            if not ok:
                break
            frames.append(fit_to_size(frame, height, width))
    finally:
        cap.release()
    if len(frames) < 2:
        raise ImageError(f"video '{path}' has {len(frames)} readable frame(s); temporal stability needs at least 2")
    return frames, fps


def _scores(frames: list[np.ndarray], clean: list[np.ndarray], motion) -> dict:
    # lazy: pulls in OpenCV, which importing this module does not
    from drn_edge.evaluation.metrics import capped_psnr, ssim
    from drn_edge.evaluation.temporal import warping_errors

    p = [capped_psnr(a, b) for a, b in zip(frames, clean)]
    s = [ssim(a, b) for a, b in zip(frames, clean)]
    warp = warping_errors(frames, motion)
    return {"psnr": float(np.mean(p)), "ssim": float(np.mean(s)), "warp_error": float(np.mean(warp)),
            "per_frame": {"psnr": p, "ssim": s, "warp_error": [None] + warp}}


def run_video_bench(req: VideoBenchRequest, log=print) -> VideoBenchResult:
    # lazy: pulls in OpenCV, which importing this module does not
    from drn_edge.evaluation.temporal import clip_motion, warping_errors
    from drn_edge.rain.video import RainClip

    candidates = []
    try:
        candidates += engine_candidates(req.engines, req.backend, req.threads)
        h, w = common_size(candidates, (req.height, req.width))
        if req.pytorch_baseline and torch_available():
            ref = choose_reference(req.engines, req.checkpoint)
            candidates.insert(0, torch_candidate(ref))
        elif req.pytorch_baseline:
            log("note: torch is not installed: no PyTorch eager row")
        clean, fps = read_clip(req.clip, h, w, req.frames)
        rain = RainClip(h, w, req.level, req.generator, req.seed)
        rainy = [rain(f) for f in clean]
        log(f"measuring motion on {len(clean)} clean frames at {h}x{w} ...")
        motion = clip_motion(clean)
        rows = [{"label": "rainy input", **_scores(rainy, clean, motion)}]
        outputs = {}
        for c in candidates:
            log(f"derain {len(rainy)} frames with {c.label} ...")
            outs = [c.derain(f) for f in _progress(rainy, c.label, req.progress)]
            outputs[c.label] = outs
            rows.append({"label": c.label, "precision": c.info.get("precision"), **_scores(outs, clean, motion)})
        clean_warp = warping_errors(clean, motion)
        floor = float(np.mean(clean_warp))
        for r in rows:
            r["flicker_excess"] = r["warp_error"] - floor
        report = {
            "kind": "video",
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "clip": str(req.clip), "size": [h, w], "frames": len(clean), "clip_fps": fps,
            "rain": {"level": req.level, "generator": req.generator, "seed": req.seed},
            "temporal_metric": "warping error (Lai et al. 2018, L1, grey levels 0-255), Farneback flow on the clean clip, "
                               "forward-backward occlusion mask",
            "clean_warp_error": floor, "clean_warp_per_frame": [None] + clean_warp,
            "motion_valid_fraction": motion.valid_fraction,
            "rows": rows,
            "environment": environment(),
        }
        return VideoBenchResult(report, clean, rainy, outputs, fps)
    finally:
        for c in candidates:
            c.close()


def _progress(items, desc, enabled):
    return progress_bar(items, desc=desc, enabled=enabled)


def format_video_table(report: dict) -> str:
    h, w = report["size"]
    rain = report["rain"]
    lines = [f"video {Path(report['clip']).name}: {report['frames']} frames at {h}x{w}, moving rain "
             f"{rain['generator']}/{rain['level']} (seed {rain['seed']})",
             f"{'':<36}{'PSNR dB':>9}{'SSIM':>8}{'warp err':>10}{'flicker +':>11}",
             f"{'clean clip (floor)':<36}{'':>9}{'':>8}{report['clean_warp_error']:>10.2f}{0.0:>11.2f}"]
    for r in report["rows"]:
        lines.append(f"{r['label'][:35]:<36}{r['psnr']:>9.2f}{r['ssim']:>8.3f}{r['warp_error']:>10.2f}"
                     f"{r['flicker_excess']:>11.2f}")
    lines.append("(warp err: mean |frame t - flow-warped frame t-1| in grey levels, Lai et al. 2018; flicker +: above the "
                 "clean clip's own figure)")
    env = report["environment"]
    lines.append(f"machine: {env.get('cpu')} ({env.get('cores_usable')} cores)")
    return "\n".join(lines)


def video_markdown(report: dict) -> str:
    h, w = report["size"]
    rain = report["rain"]
    out = [f"### Temporal stability: {Path(report['clip']).name}, {report['frames']} frames at {h}x{w}, moving rain "
           f"{rain['generator']}/{rain['level']}", "",
           f"Measured {report['created']} with drn-bench video on {report['environment'].get('cpu')}. Warping error: "
           "mean absolute difference (grey levels) between each frame and the previous one warped by the clean clip's "
           "optical flow, occlusions masked (Lai et al., ECCV 2018, with L1). 'Flicker added' is the figure above the "
           "clean clip's own.", "",
           "| clip | PSNR dB | SSIM | warping error | flicker added |", "|---|---:|---:|---:|---:|",
           f"| clean (floor) | - | - | {report['clean_warp_error']:.2f} | 0.00 |"]
    for r in report["rows"]:
        out.append(f"| {r['label']} | {r['psnr']:.2f} | {r['ssim']:.3f} | {r['warp_error']:.2f} | {r['flicker_excess']:.2f} |")
    return "\n".join(out) + "\n"


def plot_video(report: dict, path: str) -> None:
    """Per-frame PSNR (top) and warping error (bottom) of every version of the clip."""
    fig, (a1, a2) = pyplot().subplots(2, 1, figsize=(8, 5.5), sharex=True)
    for r in report["rows"]:
        a1.plot(r["per_frame"]["psnr"], label=r["label"][:40])
        a2.plot([np.nan if v is None else v for v in r["per_frame"]["warp_error"]], label=r["label"][:40])
    a2.plot([np.nan if v is None else v for v in report["clean_warp_per_frame"]], "k--", label="clean clip (floor)")
    a1.set_ylabel("PSNR vs clean, dB")
    a2.set_ylabel("warping error (grey levels)")
    a2.set_xlabel("frame")
    a1.legend(fontsize=7, loc="lower right")
    a2.legend(fontsize=7, loc="upper right")
    a1.set_title(f"{Path(report['clip']).name} with moving rain {report['rain']['generator']}/{report['rain']['level']}"
                 f" — {report['environment'].get('cpu')}"[:95], fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)


def _panel(result: VideoBenchResult, i: int, tile_height: int) -> np.ndarray:
    import cv2

    tiles = [("rainy", result.rainy[i])] + [(k, v[i]) for k, v in result.outputs.items()] + [("clean", result.clean[i])]
    out = []
    for label, t in tiles:
        if t.shape[0] != tile_height:
            t = cv2.resize(t, (int(round(t.shape[1] * tile_height / t.shape[0])), tile_height), interpolation=cv2.INTER_AREA)
        out.append(labelled(t, label))
    return np.hstack(out)


def _tile_height(result: VideoBenchResult, max_width: int = 1920) -> int:
    h, w = result.clean[0].shape[:2]
    n = len(result.outputs) + 2
    return min(h, int(max_width / n * h / w)) // 2 * 2


def write_side_by_side(result: VideoBenchResult, path: str) -> None:
    """rainy | each engine | clean, labelled, as a video at the clip's frame rate (runtime.video_out: a random temp
    name, read back before it is put in place)."""
    path = Path(path)
    th = _tile_height(result)
    first = _panel(result, 0, th)
    with VideoFile(path, result.fps, source="the side-by-side video") as video:
        for i in range(len(result.clean)):
            video.write(first if i == 0 else _panel(result, i, th))
        video.commit()

def first_frames_image(result: VideoBenchResult, path: str, count: int = 3, step: int = 5) -> None:
    """Frames 0, step, 2*step, ... of the side-by-side video as one still (for a README)."""
    th = min(_tile_height(result, 1600), 240)
    rows = [_panel(result, i, th) for i in range(0, min(len(result.clean), count * step), step)][:count]
    write_still(path, np.vstack(rows))
