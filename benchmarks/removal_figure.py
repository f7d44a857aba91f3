"""What each shipped model removes, side by side, on the project's own rain over scikit-image's held-out photos.

Usage: python benchmarks/removal_figure.py [OUT]   (default docs/images/removal.jpg)

One row per rain generator (streaks, photoshop, drizzle, and dof, never trained on), medium intensity, over a
held-out photo: rainy | drn_base | drn_edge | the layer each removed (input - output, x3, grey = nothing removed).
Only scikit-image's bundled photos are used (package data the project may ship images of; nothing from ../shared).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from script_cli import run_script

from drn_edge.evaluation.eval_frames import fit_to_size
from drn_edge.evaluation.fidelity import torch_derain
from drn_edge.imageio import labelled_grid, to_float01, to_uint8, write_image
from drn_edge.model.checkpoint import load_model
from drn_edge.photos import load_photo
from drn_edge.rain import family

REPO = Path(__file__).resolve().parents[1]
ROWS = (("streaks", "rocket"), ("photoshop", "coffee"), ("drizzle", "rocket"), ("dof", "coffee"))
SIZE = (360, 640)


def removed(rainy: np.ndarray, out: np.ndarray) -> np.ndarray:
    return np.clip((rainy.astype(np.int16) - out.astype(np.int16)) * 3 + 128, 0, 255).astype(np.uint8)


def main(argv: list[str]) -> None:
    torch.set_num_threads(1)
    out = Path(argv[0]) if argv else REPO / "docs" / "images" / "removal.jpg"
    models = {name: torch_derain(load_model(name).eval()) for name in ("drn_base", "drn_edge")}
    rows = []
    for generator, photo in ROWS:
        clean = fit_to_size(load_photo(photo), *SIZE)
        rng = np.random.default_rng(7)
        spec = family.sample_spec(rng, generator=generator, intensity=family.LEVEL_INTENSITY["medium"])
        rainy = to_uint8(family.render(to_float01(clean), spec, rng, frame_height=SIZE[0]))
        derained = {name: derain(rainy) for name, derain in models.items()}
        rows.append([(rainy, f"{generator}, medium"), *((d, name) for name, d in derained.items()),
                     *((removed(rainy, d), f"{name} removed (x3)") for name, d in derained.items())])
    out.parent.mkdir(parents=True, exist_ok=True)
    write_image(out, labelled_grid(rows, tile_height=180), jpeg_quality=75)
    print(f"wrote {out}")


if __name__ == "__main__":
    run_script(main, __doc__)
