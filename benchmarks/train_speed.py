"""Training-step time of drn_base (batch 8, crop 128) for each step variant, on this machine.

Usage: python benchmarks/train_speed.py [THREADS] [VARIANTS]
VARIANTS is a comma list of fp32, cl (channels_last), bf16, bf16cl, compile_bf16cl (default: all of them).
Compare the numbers as ratios within one run, on a quiet machine, and record the CPU (`lscpu`) with them.
"""
from __future__ import annotations

import time

import torch
import torch.nn.functional as F
from script_cli import run_script

from drn_edge.artifacts import resolve_checkpoint
from drn_edge.errors import DrnEdgeError
from drn_edge.model.checkpoint import load_checkpoint

VARIANTS = ("fp32", "cl", "bf16", "bf16cl", "compile_bf16cl")


def step_ms(variant: str, x: torch.Tensor, steps: int = 6) -> tuple[float, float]:
    """(ms per step, warm-up seconds) of one variant."""
    model = load_checkpoint(resolve_checkpoint("drn_base"))[0].train()
    channels_last, bf16, compiled = "cl" in variant, "bf16" in variant, "compile" in variant
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    net = torch.compile(model) if compiled else model
    opt = torch.optim.Adam(model.parameters(), 1e-4)

    def one() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(x)
        loss = F.l1_loss(out.float(), x)
        opt.zero_grad()
        loss.backward()
        opt.step()

    t0 = time.time()
    one()
    one()
    warm = time.time() - t0
    t0 = time.time()
    for _ in range(steps):
        one()
    return (time.time() - t0) / steps * 1000, warm


def main(argv: list[str]) -> None:
    if argv and not (argv[0].isdigit() and int(argv[0]) >= 1):
        raise DrnEdgeError(f"THREADS must be a positive integer, got {argv[0]!r} (usage: train_speed.py [THREADS] [VARIANTS])")
    threads = int(argv[0]) if argv else 2
    variants = argv[1].split(",") if len(argv) > 1 else list(VARIANTS)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        raise DrnEdgeError(f"unknown variant(s) {', '.join(unknown)}: choose from {', '.join(VARIANTS)}")
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.rand(8, 3, 128, 128)
    for v in variants:
        ms, warm = step_ms(v, x)
        print(f"{v:<16} {ms:7.0f} ms/step  (warm-up {warm:.1f} s, {threads} threads)", flush=True)


if __name__ == "__main__":
    run_script(main, __doc__)
