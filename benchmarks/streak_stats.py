"""How rendered rain compares with real streaks and with other people's rain: width, length, contrast, density.

Usage: python benchmarks/streak_stats.py [OUT_DIR]   (reads ../shared; writes OUT_DIR/streak_stats.json and .png)

Each set gives a map of "rain light" per frame, measured the same way everywhere: the luma minus its grey
opening with a 9x9 window (a top-hat: thin bright structures, up to ~8 px across), kept where it exceeds 4
grey levels. Real rainy frames have no clean frame, so the top-hat of their luma is all there is; for the
Rain100L pairs and the project's own renders the same top-hat is taken of the rainy frame minus that of the
clean frame (scene structure cancels). Connected regions of the map are streaks: their length (major axis),
width (area / length), peak contrast (grey levels) and the share of pixels they cover; the map's light per pixel
of the frame (streak light: for real frames an upper bound, scene detail counts too) and, where there is a clean
frame, the mean |rainy - clean| of the luma (rain light): how many grey levels a model could take away. Only the project's
plots and numbers are written, no pixels of ../shared.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from script_cli import run_script

SHARED = Path(__file__).resolve().parents[2] / "shared"
KERNEL = cv2.getStructuringElement(cv2.MORPH_RECT, (9, 9))
MIN_CONTRAST = 4.0


def tophat(rgb: np.ndarray) -> np.ndarray:
    y = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    return y - cv2.morphologyEx(y, cv2.MORPH_OPEN, KERNEL)


def streaks(light: np.ndarray, height: int) -> dict:
    """Per-streak length and width (fractions of frame height and px scaled to 720p), contrast, and coverage."""
    mask = (light > MIN_CONTRAST).astype(np.uint8)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    scale = 720.0 / height
    lengths, widths, contrast = [], [], []
    for i in range(1, n):
        area = stats[i, cv2.CC_STAT_AREA]
        if area < 3:
            continue
        ys, xs = np.nonzero(labels == i)
        cov = np.cov(np.stack([xs, ys]).astype(np.float32)) if area > 2 else np.eye(2)
        major = 4.0 * np.sqrt(max(np.linalg.eigvalsh(cov)[-1], 0.25))  # ~ full length of a thin segment
        lengths.append(major / height)
        widths.append(area / major * scale)
        contrast.append(float(light[ys, xs].max()))
    return {"lengths": lengths, "widths": widths, "contrast": contrast, "coverage": float(mask.mean()),
            "light": float((light * mask).mean())}


def collect(pairs) -> dict:
    out = {"lengths": [], "widths": [], "contrast": [], "coverage": [], "light": [], "added": []}
    for rainy, clean in pairs:
        light = tophat(rainy) - (tophat(clean) if clean is not None else 0)
        s = streaks(np.clip(light, 0, None), rainy.shape[0])
        for k in ("lengths", "widths", "contrast"):
            out[k] += s[k]
        out["coverage"].append(s["coverage"])
        out["light"].append(s["light"])
        if clean is not None:
            luma = [cv2.cvtColor(im, cv2.COLOR_RGB2GRAY).astype(np.float32) for im in (rainy, clean)]
            out["added"].append(float(np.abs(luma[0] - luma[1]).mean()))
    return out


def sets() -> dict:
    from drn_edge.imageio import list_images, read_pairs, read_rgb, to_float01, to_uint8
    from drn_edge.rain.family import render, sample_spec

    real = [(read_rgb(f), None) for f in list_images(SHARED / "data/road/rainy_real/nturain_rb2")]
    rain100l = [(r, c) for _, r, c in read_pairs(SHARED / "eval/rain100l")]
    road = [cv2.resize(read_rgb(f), (640, 360)) for f in list_images(SHARED / "data/road/permissive/udacity_ch2_hmb3")[::40]]
    # the same measure on clean road frames: how much thin bright light a scene without rain holds
    out = {"real (nturain_rb2)": real, "clean road, no rain": [(c, None) for c in road], "Rain100L": rain100l}
    # each generator at intensities 0.1-0.6; the recipe behind Rain100L also at its light and heavy ends, since
    # Rain100L is light rain by name but not by its covered share or its streaks' width
    draws = [(f"drn-edge {gen}", gen, (0.1, 0.6)) for gen in ("drizzle", "photoshop", "long", "streaks")]
    draws += [("drn-edge photoshop 0-0.3", "photoshop", (0.0, 0.3)), ("drn-edge photoshop 0.6-1", "photoshop", (0.6, 1.0))]
    for name, gen, (low, high) in draws:
        rendered = []
        for i, clean in enumerate(road):
            rng = np.random.default_rng(i)
            spec = sample_spec(rng, gen, float(rng.uniform(low, high)))
            rendered.append((to_uint8(render(to_float01(clean), spec, rng)), clean))
        out[name] = rendered
    return out


def main(argv: list[str]) -> None:
    out_dir = Path(argv[0] if argv else "benchmarks/results/rain")
    out_dir.mkdir(parents=True, exist_ok=True)
    stats = {name: collect(pairs) for name, pairs in sets().items()}
    summary = {name: {"streaks": len(s["lengths"]),
                      "length_median_of_height": float(np.median(s["lengths"])) if s["lengths"] else None,
                      "width_median_px_at_720p": float(np.median(s["widths"])) if s["widths"] else None,
                      "contrast_median_grey_levels": float(np.median(s["contrast"])) if s["contrast"] else None,
                      "coverage_mean": float(np.mean(s["coverage"])),
                      "streak_light_mean_grey_levels": float(np.mean(s["light"])),
                      "rain_light_mean_grey_levels": float(np.mean(s["added"])) if s["added"] else None}
               for name, s in stats.items()}
    (out_dir / "streak_stats.json").write_text(json.dumps(summary, indent=2) + "\n")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for name, s in stats.items():
        for ax, key, rng in zip(axes, ("lengths", "widths", "contrast"), ((0, 0.3), (0, 12), (0, 80))):
            if s[key]:
                ax.hist(np.clip(s[key], *rng), bins=30, range=rng, density=True, histtype="step", label=name)
    for ax, title in zip(axes, ("streak length (fraction of frame height)", "streak width (px at 720p)",
                                "peak contrast (grey levels)")):
        ax.set_title(title)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_dir / "streak_stats.png", dpi=90)
    for name, row in summary.items():
        print(f"{name:<26} " + "  ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()))


if __name__ == "__main__":
    run_script(main, __doc__)
