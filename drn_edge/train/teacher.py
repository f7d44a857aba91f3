"""Distillation (drn-train --teacher): a pruned model also learns to match the model it was cut from.

Why: drn-prune at 0.5 leaves a drn_edge that starts near identity (+0.07 dB), and fine-tuned on the clean targets
alone it took run 9 some 10,000 steps to recover. The teacher's output on the same rainy crop says, at every pixel,
what a trained model removes there — the faint streaks it takes and the scene lines it keeps too — so the student
has a target that already holds the bigger model's judgement, not only the clean frame's.
"""
from __future__ import annotations

import torch

from drn_edge.artifacts import resolve_checkpoint
from drn_edge.model.checkpoint import load_checkpoint

__all__ = ["TEACHER_SHARE", "Teacher"]

TEACHER_SHARE = 0.5  # the loss: (1 - share) x the loss against the clean frame + share x mean |student - teacher|


class Teacher:
    """A frozen model whose output on each training batch the student is pulled towards."""

    def __init__(self, spec: str, plan, device: torch.device):
        model = load_checkpoint(resolve_checkpoint(spec))[0].to(device).eval()  # a path, or drn_base / drn_edge
        for p in model.parameters():
            p.requires_grad_(False)
        self.plan, self.device = plan, device
        self.net = plan.prepare(model, device)

    def blend(self, loss: torch.Tensor, rainy: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """The training loss with the teacher's share: how far the student's output is from the teacher's."""
        with torch.no_grad(), self.plan.autocast(self.device):
            target = self.net(rainy)
        return (1 - TEACHER_SHARE) * loss + TEACHER_SHARE * (out.float() - target.float()).abs().mean()
