"""drn-export --prune: coupled structured pruning, a short fine-tune, and the pruned checkpoint beside the export.

The fine-tune runs in a temporary folder (its checkpoints are working files, not outputs): only
OUT/drn.pruned.safetensors is kept, and it goes through drn-export's output planner like every artifact.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

from drn_edge.artifacts import PRUNED_CHECKPOINT
from drn_edge.outputs import sha256_file

__all__ = ["prune_and_finetune"]

FINETUNE_LR = 2e-4
FINETUNE_WARMUP = 20


def prune_and_finetune(model, ratio: float, steps: int, frames: list, out: Path, ckpt: Path, log) -> tuple:
    """(pruned model, its source record, the prune report for the result) after `steps` fine-tune steps."""
    # lazy: pulls in OpenCV, torch, which importing this module does not
    from drn_edge.evaluation.fidelity import evaluate, torch_derain
    from drn_edge.model.checkpoint import load_checkpoint, save_checkpoint
    from drn_edge.model.prune import prune
    from drn_edge.train.loop import TrainConfig, train

    before = evaluate(torch_derain(model), frames)[0]["medium"]["psnr"]
    pruned, report = prune(model, ratio)
    log(f"pruned {ratio:.0%}: params {report.params_before:,} -> {report.params_after:,}, "
        f"GMAC@720p {report.macs_720p_before / 1e9:.1f} -> {report.macs_720p_after / 1e9:.1f}")
    if steps > 0:
        with tempfile.TemporaryDirectory(prefix="drn-finetune-") as work:
            cfg = TrainConfig(out=work, steps=steps, lr=FINETUNE_LR, warmup=FINETUNE_WARMUP, overwrite=True,
                              val_every=steps, save_every=steps)
            pruned = load_checkpoint(train(cfg, model=pruned))[0]
    after = evaluate(torch_derain(pruned), frames)[0]["medium"]["psnr"]
    log(f"held-out medium-rain PSNR: {before:.2f} dB before pruning, {after:.2f} dB after pruning + {steps} fine-tune steps")
    path = save_checkpoint(pruned, out / PRUNED_CHECKPOINT,
                           {"pruned_from": ckpt.name, "prune": report.as_dict(), "finetune_steps": steps,
                            "heldout_medium_psnr_before": before, "heldout_medium_psnr_after": after})
    record = report.as_dict() | {"finetune_steps": steps, "psnr_before": before, "psnr_after": after,
                                 "checkpoint": str(path)}
    return pruned, {"file": path.name, "sha256": sha256_file(path), "kind": "checkpoint"}, record
