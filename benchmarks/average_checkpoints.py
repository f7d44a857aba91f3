"""Average the weights of checkpoints from one run (stochastic weight averaging, done after the run), or of runs
fine-tuned from one start (a "model soup", Wortsman et al. 2022: the shipped drn_edge of run 11 is one).

Usage: python benchmarks/average_checkpoints.py OUT.safetensors CHECKPOINT [CHECKPOINT ...]

Why: the validation score and the lane guard swing by a dB and more between checkpoints 200-500 steps apart (the
updates of a small batch on a few hundred frames are noisy); the mean of nearby checkpoints sits in the middle of that
swing. The model has no normalization layers, so the averaged weights need nothing recomputed. Every checkpoint must
have the same architecture; the output records which steps were averaged.
"""
from __future__ import annotations

import sys

import torch
from script_cli import run_script

from drn_edge.model.checkpoint import load_checkpoint, save_checkpoint


def average(paths: list[str]) -> tuple[torch.nn.Module, list[int]]:
    model, info, _ = load_checkpoint(paths[0])
    total = {k: v.detach().clone().double() for k, v in model.state_dict().items()}
    steps = [info.get("step")]
    for path in paths[1:]:
        other, info, _ = load_checkpoint(path)
        if other.cfg.to_dict() | {"name": ""} != model.cfg.to_dict() | {"name": ""}:
            sys.exit(f"{path} has another architecture ({other.cfg.name}) than {paths[0]} ({model.cfg.name})")
        for k, v in other.state_dict().items():
            total[k] += v.double()
        steps.append(info.get("step"))
    model.load_state_dict({k: (v / len(paths)).float() for k, v in total.items()})
    return model, steps


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        sys.exit(__doc__)
    out, paths = argv[0], argv[1:]
    model, steps = average(paths)
    save_checkpoint(model, out, {"averaged_steps": steps, "averaged_from": paths})
    print(f"wrote {out}: the mean of {len(paths)} checkpoints (steps {', '.join(map(str, steps))})")


if __name__ == "__main__":
    run_script(main, __doc__)
