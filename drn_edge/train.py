"""Training loop: L1 between I - DRN(I) and the clean image, Adam, cosine LR; single process or torchrun DDP.

Resumable: OUT/last.safetensors holds weights, Adam moments and the step (no pickles).
"""
from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from .checkpoint import load_checkpoint, save_checkpoint
from .data import HELDOUT_PHOTOS, RainCropSampler, heldout_pairs
from .evaluate import evaluate_pairs, torch_derain
from .model import DRN, MODEL_FACTORIES


@dataclass
class TrainConfig:
    out: str = "runs/drn"
    model: str = "drn_base"
    steps: int = 2000
    batch: int = 8
    crop: int = 96
    lr: float = 2e-3
    warmup: int = 100
    val_every: int = 250
    save_every: int = 250
    seed: int = 0
    resume: bool = False
    init: str | None = None  # start from these weights (e.g. fine-tuning a pruned model)


def _lr(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


def _optimizer_tensors(opt: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
    out = {}
    for idx, state in opt.state_dict()["state"].items():
        for name, value in state.items():
            out[f"optim.{idx}.{name}"] = torch.as_tensor(value)
    return out


def _load_optimizer(opt: torch.optim.Optimizer, extra: dict[str, torch.Tensor]) -> None:
    sd = opt.state_dict()
    state: dict[int, dict] = {}
    for key, value in extra.items():
        if key.startswith("optim."):
            _, idx, name = key.split(".", 2)
            state.setdefault(int(idx), {})[name] = value
    sd["state"] = state
    opt.load_state_dict(sd)


def validate(model: DRN, level: str = "medium") -> dict[str, float]:
    """Held-out PSNR/SSIM/UQI at one rain level (photos downsized for speed during training)."""
    was_training = model.training
    model.eval()
    res = evaluate_pairs(torch_derain(model), heldout_pairs(level, photos=HELDOUT_PHOTOS, max_side=320))
    model.train(was_training)
    return res["derained"] | {f"rainy_{k}": v for k, v in res["rainy"].items()}


def train(cfg: TrainConfig, model: DRN | None = None, progress: bool = True) -> Path:
    """Train and return the path of the final checkpoint (OUT/last.safetensors)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    distributed = world > 1
    if distributed:
        import torch.distributed as dist

        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend)
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")

    out = Path(cfg.out)
    last = out / "last.safetensors"
    start, extra, info = 0, {}, {}
    if cfg.resume and last.is_file():
        model, info, extra = load_checkpoint(last)
        start = int(info.get("step", 0))
    elif model is None:
        model = load_checkpoint(cfg.init)[0] if cfg.init else MODEL_FACTORIES[cfg.model]()
    torch.manual_seed(cfg.seed + rank)
    model = model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    if extra:
        _load_optimizer(opt, extra)
    net = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    sampler = RainCropSampler(crop=cfg.crop, seed=cfg.seed * 1000 + rank + start * 7919)

    history = info.get("history", [])
    elapsed_before = float(info.get("train_seconds", 0.0))
    t0 = time.time()
    bar = None
    if progress and rank == 0:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=start, desc="train", unit="step", dynamic_ncols=True,
                   mininterval=0.5 if sys.stderr.isatty() else 10.0)
    loss_ema = None
    for step in range(start, cfg.steps):
        rainy, clean = sampler.batch(cfg.batch)
        rainy, clean = torch.from_numpy(rainy).to(device), torch.from_numpy(clean).to(device)
        for g in opt.param_groups:
            g["lr"] = _lr(cfg, step)
        loss = F.l1_loss(net(rainy), clean)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_ema = loss.item() if loss_ema is None else 0.98 * loss_ema + 0.02 * loss.item()
        done = step + 1
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{loss_ema:.4f}", lr=f"{_lr(cfg, step):.1e}")
        is_last = done == cfg.steps
        if rank == 0 and (done % cfg.val_every == 0 or is_last):
            val = validate(model)
            history.append({"step": done, "loss": loss_ema, **val})
            msg = f"step {done}: loss {loss_ema:.4f}  held-out medium PSNR {val['rainy_psnr']:.2f} -> {val['psnr']:.2f} dB, SSIM {val['ssim']:.3f}"
            (bar.write if bar else print)(msg)
        if rank == 0 and (done % cfg.save_every == 0 or is_last):
            info = {"step": done, "train_config": asdict(cfg), "train_seconds": elapsed_before + time.time() - t0,
                    "history": history, "world_size": world}
            save_checkpoint(model, last, info, _optimizer_tensors(opt))
    if bar is not None:
        bar.close()
    if distributed:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return last
