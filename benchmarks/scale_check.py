"""Does running a model on a frame enlarged (or shrunk) s times, or more than once, take more rain, at what cost?

Usage: python benchmarks/scale_check.py [--scales 1,2] [--passes 1,2] [--threads N] ENGINE [ENGINE ...]
(ENGINE: an exported drn.onnx)

The model sees the frame resized s times (cubic up, area down); its rain layer (input - output) is resized back the
other way and taken from the original frame, so a model that removes nothing leaves the frame exactly as it was. With
--passes k the model runs k times in a row, each pass on the last one's output (what PReNet-style progressive
deraining does with its recurrent stages). Per engine, scale and number of passes, one line: clean CamVid frames at
their own size (every 6th of ../shared/data/road/research_only/camvid; PSNR of output vs input, mean / worst), the RGB
PSNR gain on ../shared/eval/rain100l, and the real-rain change on ../shared/data/road/rainy_real/nturain_rb2 (mean
grey levels, share that is removal). Measured: docs/levers-scenes.md ("Clean frames at a low-resolution camera's own
size") and docs/levers-runs.md ("Run 22"). Reads ../shared; writes nothing.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from drn_edge.evaluation.metrics import psnr
from drn_edge.evaluation.real_rain import real_rain_change
from drn_edge.imageio import list_images, read_rgb
from drn_edge.runtime.engine import DerainEngine

SHARED = Path(__file__).resolve().parents[2] / "shared"
CAMVID = SHARED / "data" / "road" / "research_only" / "camvid"
RAIN100L = SHARED / "eval" / "rain100l"
REAL = SHARED / "data" / "road" / "rainy_real" / "nturain_rb2"


def passes_of(engine: DerainEngine, passes: int):
    """RGB frame -> derained frame, the model run `passes` times in a row."""
    def run(rgb: np.ndarray) -> np.ndarray:
        for _ in range(passes):
            rgb = engine(rgb)
        return rgb
    return run


def at_scale(engine, s: float):
    """RGB frame -> derained frame, `engine` (a frame -> frame callable) run on the frame resized s times."""
    def run(rgb: np.ndarray) -> np.ndarray:
        if s == 1.0:
            return engine(rgb)
        h, w = rgb.shape[:2]
        up, down = cv2.INTER_CUBIC, cv2.INTER_AREA
        seen = cv2.resize(rgb, (round(w * s), round(h * s)), interpolation=up if s > 1 else down)
        rain = seen.astype(np.float32) - engine(seen).astype(np.float32)
        rain = cv2.resize(rain, (w, h), interpolation=down if s > 1 else up)
        return np.clip(np.rint(rgb.astype(np.float32) - rain), 0, 255).astype(np.uint8)
    return run


def check(engine_path: str, scales: list[float], passes: list[int], threads: int) -> None:
    camvid = [read_rgb(p) for p in list_images(CAMVID)[::6]]  # read once, run at every scale and pass count
    pairs = [(read_rgb(p), read_rgb(RAIN100L / "target" / p.name)) for p in list_images(RAIN100L / "input")]
    with DerainEngine(engine_path, color="rgb", threads=threads) as engine:
        for s, k in [(s, k) for s in scales for k in passes]:
            derain = at_scale(passes_of(engine, k), s)
            clean = [psnr(derain(x), x) for x in camvid]
            gains = [psnr(derain(rainy), target) - psnr(rainy, target) for rainy, target in pairs]
            real = real_rain_change(derain, REAL)
            print(f"{engine_path} x{s:g}, {k} pass{'es' if k > 1 else ''}: clean CamVid {np.mean(clean):.1f} / {np.min(clean):.1f} dB | "
                  f"Rain100L {np.mean(gains):+.2f} dB | real rain {real['mean_change']:.2f} grey levels, "
                  f"{100 * real['removal_share']:.0f} % removal", flush=True)


def comma_list(text: str, kind: type, low: float, high: float) -> list:
    """'1,2' -> [1, 2] when every item is a `kind` within [low, high]; [] otherwise (the caller names the option)."""
    try:
        values = [kind(v) for v in text.split(",")]
    except ValueError:
        return []
    return values if all(low <= v <= high for v in values) else []


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("engines", nargs="+", help="exported drn.onnx files")
    p.add_argument("--scales", default="1,2", help="comma-separated scales, 0.25-4 (default: 1,2)")
    p.add_argument("--passes", default="1", help="comma-separated numbers of passes, 1-4 (default: 1)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    missing = [str(d) for d in (CAMVID, RAIN100L, REAL) if not d.is_dir()]
    if missing:
        print(f"error: {', '.join(missing)} not found: this check reads ../shared beside the project", file=sys.stderr)
        return 2
    scales = comma_list(args.scales, float, 0.25, 4)
    passes = comma_list(args.passes, int, 1, 4)
    for flag, values, text, kind in (("--scales", scales, args.scales, "numbers from 0.25 to 4"),
                                     ("--passes", passes, args.passes, "whole numbers from 1 to 4")):
        if not values:
            print(f"error: {flag} must be {kind}, comma-separated, got {text!r}", file=sys.stderr)
            return 2
    for e in args.engines:
        check(e, scales, passes, args.threads)
    return 0


if __name__ == "__main__":
    sys.exit(main())
