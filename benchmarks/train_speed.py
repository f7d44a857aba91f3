"""Training-step time of drn_base (batch 8, crop 128) for each step variant, on this machine.

Usage: python benchmarks/train_speed.py [THREADS] [VARIANTS]
VARIANTS is a comma list of fp32, cl (channels_last), bf16, bf16cl, compile_bf16cl (default: all of them).
Compare the numbers as ratios within one run, on a quiet machine, and record the CPU (`lscpu`) with them.
"""
from __future__ import annotations

import sys
import time

import torch
import torch.nn.functional as F

from drn_edge.artifacts import resolve_checkpoint
from drn_edge.model.checkpoint import load_checkpoint


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


def main() -> None:
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
    variants = sys.argv[2].split(",") if len(sys.argv) > 2 else ["fp32", "cl", "bf16", "bf16cl", "compile_bf16cl"]
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.rand(8, 3, 128, 128)
    for v in variants:
        ms, warm = step_ms(v, x)
        print(f"{v:<16} {ms:7.0f} ms/step  (warm-up {warm:.1f} s, {threads} threads)", flush=True)


if __name__ == "__main__":
    main()
