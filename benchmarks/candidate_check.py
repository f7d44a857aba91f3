"""Quick checks of candidate checkpoints before the full evaluation (about a minute each on one core).

Usage: python benchmarks/candidate_check.py [--detail-gain K] CHECKPOINT [CHECKPOINT ...]   (drn_base / drn_edge name the
shipped ones; --detail-gain: the probe of benchmarks/faint_check.py)

Per checkpoint, one line: the lane guard of tests/evaluation/test_shipped_quality.py (mean and 10th percentile of the
line's kept contrast; ship only above 0.9 / 0.8), clean road frames (PSNR of output vs input, mean / worst, and the
median signed change per frame: > 0, the model darkens the whole frame), the
real-rain figure on nturain_rb2 (mean change in grey levels, share that is removal), and the share of added rain
removed: medium preset rain over a road frame, the same frame behind a haze and in greyscale, and over a real rainy
frame of nturain_rb2 (our own rain, so the share is known; the shipped models remove far less of it there than over
the road frame); drizzle (the look of real rain) over the road frame and over the real frame. Reads ../shared;
writes nothing.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np
import torch

from drn_edge.evaluation.eval_frames import clean_dir_sources, fit_to_size
from drn_edge.evaluation.fidelity import torch_derain
from drn_edge.evaluation.metrics import psnr
from drn_edge.evaluation.real_rain import real_rain_change, whole_frame_shift
from drn_edge.imageio import read_rgb, to_float01, to_uint8
from drn_edge.model.checkpoint import load_model
from drn_edge.rain import family
from drn_edge.rain.photoshop import sample_drizzle_layers
from drn_edge.rain.preset import synthesize
from drn_edge.runtime.frames import pad_to, padded_size

SHARED = Path(__file__).resolve().parents[2] / "shared"
ROAD = SHARED / "data" / "road" / "permissive"
REAL = SHARED / "data" / "road" / "rainy_real" / "nturain_rb2"
LANE_FRAME = ROAD / "evocargo" / "evocargo_seq1_1595.jpg"
DETAIL_SIGMA = 4.0  # px at 640x360: the base the --detail-gain probe measures detail from (wider than any streak)


def _tophat(rgb: np.ndarray) -> np.ndarray:
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (15, 15))).astype(np.float32)


def lane(derain) -> tuple[float, float]:
    clean = fit_to_size(read_rgb(LANE_FRAME), 360, 640)
    before = _tophat(clean)
    mask = np.zeros(before.shape, bool)
    mask[170:] = before[170:] > 40
    ratio = _tophat(derain(clean))[mask] / before[mask]
    return float(ratio.mean()), float(np.quantile(ratio, 0.1))


def greyscale(rgb: np.ndarray) -> np.ndarray:
    return rgb.mean(axis=2, keepdims=True).repeat(3, axis=2).astype(np.uint8)


def removed_share(derain, frame: np.ndarray, how: str) -> float:
    if how == "drizzle":
        rng = np.random.default_rng(0)
        spec = family.RainSpec(layers=sample_drizzle_layers(rng, 0.5, 40.0), style="photoshop")
        rainy = to_uint8(family.render(to_float01(frame), spec, rng, frame_height=frame.shape[0]))
    else:
        rainy = synthesize(frame, "medium", seed=1, scale=frame.shape[0] * 16 / 9 / 640)
    added = rainy.astype(np.float32) - frame
    return float((rainy.astype(np.float32) - derain(rainy)).mean() / max(added.mean(), 1e-6))


def detail_gain_derain(model, gain: float):
    """uint8 RGB -> uint8 RGB: the model run on the frame with its detail (the frame minus its Gaussian blur) amplified
    `gain` times, the rain layer it finds divided by `gain`. A probe, not a runtime option: every line reaches the model
    `gain` times brighter, which asks whether the weights can tell a faint line from the scene at all."""
    def run(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        x = to_float01(rgb)
        base = cv2.GaussianBlur(x, (0, 0), DETAIL_SIGMA)
        amplified = pad_to(base + gain * (x - base), *padded_size(h, w))
        t = torch.from_numpy(np.ascontiguousarray(amplified.transpose(2, 0, 1)[None]))
        with torch.no_grad():
            rain = (t - model(t))[0].numpy().transpose(1, 2, 0)[:h, :w] / gain
        return to_uint8(x - rain)

    return run


def derainer(name: str, detail_gain: float = 1.0):
    """The checkpoint as a uint8 RGB -> uint8 RGB function, through the --detail-gain probe when it is not 1."""
    model = load_model(name).eval()
    return torch_derain(model) if detail_gain == 1 else detail_gain_derain(model, detail_gain)


def _gain(text: str) -> float:
    value = float(text)
    if not value >= 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text}")
    return value


def detail_gain_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--detail-gain", type=_gain, default=1.0, help="probe: the frame's detail this many times "
                        "brighter before the model, its rain layer divided by it (1: the model as it is)")


def check(name: str, detail_gain: float = 1.0) -> str:
    derain = derainer(name, detail_gain)
    lane_mean, lane_p10 = lane(derain)
    frames = [fit_to_size(img, 360, 640) for d in ("evocargo", "comma2k19") for _, img in clean_dir_sources(ROAD / d)]
    outputs = [derain(f) for f in frames]
    clean = [psnr(out, f) for out, f in zip(outputs, frames)]
    clean_shift = np.mean([whole_frame_shift(f.astype(np.float32) - out) for out, f in zip(outputs, frames)])
    real = real_rain_change(derain, REAL)
    road = fit_to_size(read_rgb(sorted((ROAD / "pandaset_seq002").rglob("*.jpg"))[10]), 360, 640)
    hazy = (road * 0.6 + 0.4 * 200).astype(np.uint8)
    grey = greyscale(road)
    real_frame = fit_to_size(read_rgb(sorted(REAL.glob("*.jpg"))[7]), 360, 640)
    shares = [removed_share(derain, road, "medium"), removed_share(derain, hazy, "medium"),
              removed_share(derain, grey, "medium"), removed_share(derain, real_frame, "medium"),
              removed_share(derain, road, "drizzle"), removed_share(derain, real_frame, "drizzle")]
    return (f"{name}: lane {lane_mean:.2f}/{lane_p10:.2f}  clean {np.mean(clean):.1f}/{min(clean):.1f} dB (whole-frame "
            f"shift {clean_shift:+.2f})  "
            f"real rain {real['mean_change']:.2f} grey levels ({100 * real['removal_share']:.0f} % removal, streak-like "
            f"pixels {real['streak_selectivity']:.1f}x the rest, whole-frame shift {real['uniform_shift']:+.2f})  "
            f"removed: medium {shares[0]:.2f}, behind haze {shares[1]:.2f}, greyscale {shares[2]:.2f}, over a real "
            f"rainy frame {shares[3]:.2f}; drizzle {shares[4]:.2f}, over a real rainy frame {shares[5]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="*", default=["drn_base"])
    detail_gain_argument(parser)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.checkpoints:
        probe = f" (detail x{args.detail_gain:g})" if args.detail_gain != 1 else ""
        print(check(name, args.detail_gain).replace(":", probe + ":", 1), flush=True)


if __name__ == "__main__":
    main()
