"""The one fidelity function, and the evaluation suite drn-eval runs.

``fidelity(frames, outputs, refs)`` turns derained outputs of drn_edge.evaluation.eval_frames' frames into per-group
PSNR/SSIM/UQI (rainy vs clean, derained vs clean, derained vs the FP32 reference). Export, bench,
drn-eval and training validation all call it, so a figure means the same everywhere.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from drn_edge.errors import ImageError
from drn_edge.evaluation.eval_frames import (
    EvalFrame,
    clean_dir_sources,
    fit_to_size,
    heldout_sources,
    pair_frames,
    rain_frames,
)
from drn_edge.evaluation.metrics import PSNR_CAP_DB, capped_psnr, ssim, uqi  # noqa: F401 (PSNR_CAP_DB re-exported)
from drn_edge.imageio import to_uint8
from drn_edge.photos import photos_available
from drn_edge.progress import progress_bar
from drn_edge.rain.family import GENERATORS
from drn_edge.runtime.frames import rgb_to_nchw_float

__all__ = ["DeRain", "PSNR_CAP_DB", "balanced_score", "torch_derain", "rgb_to_tensor", "scores", "fidelity", "evaluate",
           "evaluate_pairs", "evaluation_suite", "SUITE_SIZES"]

DeRain = Callable[[np.ndarray], np.ndarray]  # HxWx3 uint8 RGB -> HxWx3 uint8 RGB
SUITE_SIZES = ((360, 640), (720, 1280))


def balanced_score(gains: dict[str, float]) -> float:
    """The one checkpoint-selection score: mean gain (dB over the rainy input) across sets and levels,
    with every set that ends below its rainy input counted a second time (light rain weighs as much
    as heavy, and no set may be given up for another)."""
    if not gains:
        raise ValueError("balanced_score needs at least one set")
    values = list(gains.values())
    return float(np.mean(values) + min(0.0, min(values)))


def suite_score(tables: dict[str, dict]) -> tuple[float, dict[str, float]]:
    """drn-eval's balanced score: the largest held-out size's levels and every paired set, one gain each."""
    held = [t for t in tables if t.startswith("held-out ")]
    gains = {}
    if held:
        def area(title: str) -> int:
            w, h = title.split()[-1].split("x")
            return int(w) * int(h)

        big = max(held, key=area)
        gains |= {f"{big} {level}": row["gain_db"] for level, row in tables[big].items()}
    for title, table in tables.items():
        if title.startswith("pairs "):
            rows = list(table.values())
            gains[title] = float(np.mean([r["gain_db"] for r in rows]))
    return balanced_score(gains), gains


def torch_derain(model, device: str = "cpu") -> DeRain:
    """Wrap a torch DRN as a uint8 RGB -> uint8 RGB function with reflect padding to a multiple of 8."""
    import torch

    def run(rgb: np.ndarray) -> np.ndarray:
        h, w = rgb.shape[:2]
        t = rgb_to_tensor(rgb, device)
        with torch.no_grad():
            y = model(t)[0].clamp(0, 1).cpu().numpy().transpose(1, 2, 0)[:h, :w]
        return to_uint8(y)

    return run


def rgb_to_tensor(rgb: np.ndarray, device: str = "cpu"):
    """HxWx3 uint8 RGB -> 1x3xH'xW' float tensor in [0, 1], reflect-padded to a multiple of 8."""
    import torch

    return torch.from_numpy(rgb_to_nchw_float(rgb)).to(device)


def scores(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    return {"psnr": capped_psnr(a, b), "ssim": ssim(a, b), "uqi": uqi(a, b)}


def fidelity(frames: Sequence[EvalFrame], outputs: Sequence[np.ndarray],
             refs: Sequence[np.ndarray] | None = None) -> dict[str, dict[str, float]]:
    """Per group (level, generator, paired set): mean scores of rainy and derained vs clean, and vs the reference."""
    if len(frames) != len(outputs) or (refs is not None and len(refs) != len(frames)):
        raise ValueError("fidelity needs one output (and one reference) per frame")
    if not frames:
        raise ImageError("no frames to evaluate")
    groups: dict[str, list[int]] = {}
    for i, f in enumerate(frames):
        groups.setdefault(f.group, []).append(i)
    table = {}
    for group, idx in groups.items():
        rainy = [scores(frames[i].rainy, frames[i].clean) for i in idx]
        out = [scores(outputs[i], frames[i].clean) for i in idx]
        row = {"n": len(idx)}
        for k in ("psnr", "ssim", "uqi"):
            row[f"rainy_{k}"] = float(np.mean([r[k] for r in rainy]))
            row[k] = float(np.mean([r[k] for r in out]))
        row["gain_db"] = row["psnr"] - row["rainy_psnr"]
        row["psnr_min"] = float(min(r["psnr"] for r in out))
        if refs is not None:
            row["psnr_vs_fp32"] = float(np.mean([capped_psnr(outputs[i], refs[i]) for i in idx]))
        table[group] = row
    return table


def evaluate(derain: DeRain, frames: Sequence[EvalFrame], refs: Sequence[np.ndarray] | None = None,
             progress: bool = False) -> tuple[dict, list[np.ndarray]]:
    """Run `derain` on every frame and score it: (fidelity table, outputs)."""
    outputs = [derain(f.rainy) for f in progress_bar(frames, desc="evaluate", leave=False, enabled=progress)]
    return fidelity(frames, outputs, refs), outputs


def evaluate_pairs(derain: DeRain, pairs: Iterable[tuple[str, np.ndarray, np.ndarray]], group: str = "pairs") -> dict:
    """Mean scores for (name, rainy, clean) tuples, in the {'rainy': .., 'derained': ..} shape training history uses."""
    frames = [EvalFrame(n, group, r, c) for n, r, c in pairs]
    row = evaluate(derain, frames)[0][group]
    return {"rainy": {k: row[f"rainy_{k}"] for k in ("psnr", "ssim", "uqi")},
            "derained": {k: row[k] for k in ("psnr", "ssim", "uqi")}}


def evaluation_suite(derain: DeRain, sizes: Sequence[tuple[int, int]] = SUITE_SIZES,
                     clean_dirs: Sequence[str | os.PathLike] = (), pairs_dirs: Sequence[str | os.PathLike] = (),
                     generators: Sequence[str] | None = None, generator_size: tuple[int, int] | None = (720, 1280),
                     progress: bool = True, clean_only_dirs: Sequence[str | os.PathLike] = (),
                     clean_max_frames: int = 8) -> dict[str, dict]:
    """drn-eval's tables: held-out frames per size and level, every rain generator, and paired sets at native size.

    Held-out frames: the held-out photos, plus each of `clean_dirs`. `clean_only_dirs` join the
    clean-frame table only (at most `clean_max_frames` each, evenly spaced): conditions to check that
    a rain-free frame comes back unchanged, without the cost of raining on them.
    """

    # The held-out photos join when scikit-image is installed; a torch-free install evaluates the user's frames.
    photos = [("photos", heldout_sources())] if photos_available() or not (clean_dirs or pairs_dirs) else []
    groups = photos + [(Path(d).name, clean_dir_sources(d)) for d in clean_dirs]
    sources = [s for _, group in groups for s in group]
    tables: dict[str, dict] = {}
    for h, w in sizes if sources else ():  # only --pairs, and no photos (a torch-free install): pairs alone
        tables[f"held-out {w}x{h}"] = evaluate(derain, rain_frames(sources, size=(h, w)), progress=progress)[0]
    # Clean frames must come back unchanged: the output's PSNR against its own (rain-free) input.
    ch, cw = max(sizes, key=lambda s: s[0] * s[1])
    extra = []
    for d in clean_only_dirs:
        extra.append((Path(d).name, clean_dir_sources(d, clean_max_frames)))
    clean = [EvalFrame(n, f"clean/{g}", c, c) for g, group in groups + extra for n, img in group
             for c in [fit_to_size(img, ch, cw)]]
    if clean:
        tables[f"clean {cw}x{ch}"] = evaluate(derain, clean, progress=progress)[0]
    if generator_size and generators is not False and sources:
        gens = tuple(generators) if generators is not None else GENERATORS
        frames = [f for g in gens for f in rain_frames(sources, ("medium",), generator_size, g)]
        gh, gw = generator_size
        tables[f"generators {gw}x{gh} medium"] = evaluate(derain, frames, progress=progress)[0]
    for d in pairs_dirs:
        tables[f"pairs {os.fspath(d)}"] = evaluate(derain, pair_frames(d), progress=progress)[0]
    return tables
