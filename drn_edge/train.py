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
from .eval_frames import heldout_sources, pair_frames, rain_frames
from .errors import CheckpointError, DataError, OutputError
from .evaluate import evaluate, torch_derain
from .model import DRN, MODEL_FACTORIES
from .imageio import read_pairs
from .train_data import MixedSampler, PairedSource, SyntheticRainSource, default_sources, read_clean_dir


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
    overwrite: bool = False  # start afresh even if OUT/last.safetensors exists
    init: str | None = None  # start from these weights (e.g. fine-tuning a pruned model)
    clean: tuple[str, ...] = ()      # folders/videos of clean frames (synthetic rain on the fly)
    pairs: tuple[str, ...] = ()      # paired rainy/clean datasets
    weights: tuple[float, ...] = ()  # one per source: bundled default (if used), then clean..., then pairs...
    no_default_data: bool = False    # train only on --clean/--pairs
    val_pairs: str | None = None     # validate on this paired set too
    max_minutes: float | None = None  # stop (and save) after this much wall time


def build_sampler(cfg: TrainConfig, seed: int) -> MixedSampler:
    """The training mix: the bundled data unless turned off, then each --clean and --pairs source."""
    sources, weights = ([], []) if cfg.no_default_data else default_sources()
    default_weight = [sum(weights)] if weights else []
    if weights:
        sources = [_Mixture(sources, weights)]
    sources += [SyntheticRainSource(read_clean_dir(c), f"clean:{c}") for c in cfg.clean]
    sources += [PairedSource([(r, c) for _, r, c in read_pairs(p)], f"pairs:{p}") for p in cfg.pairs]
    w = list(cfg.weights) if cfg.weights else default_weight + [1.0] * (len(sources) - len(default_weight))
    if len(w) != len(sources):
        raise DataError(f"--weights needs {len(sources)} values (one per source: "
                         f"{'bundled data, ' if default_weight else ''}each --clean, each --pairs), got {len(w)}")
    return MixedSampler(sources, w, cfg.crop, seed)


class _Mixture:
    """Several sources as one (the bundled data counts as one source for --weights)."""

    def __init__(self, sources, weights):
        self.sources, self.p = sources, [w / sum(weights) for w in weights]

    def sample(self, rng, crop):
        return self.sources[int(rng.choice(len(self.sources), p=self.p))].sample(rng, crop)


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


def validate(model: DRN, level: str = "medium", val_pairs: list | None = None) -> dict[str, float]:
    """Held-out PSNR/SSIM/UQI at one rain level (eval_frames' held-out frames, shrunk to 320 px for speed)."""
    was_training = model.training
    model.eval()
    derain = torch_derain(model, next(model.parameters()).device)
    row = evaluate(derain, rain_frames(heldout_sources(max_side=320), (level,)))[0][level]
    out = {k: row[k] for k in ("psnr", "ssim", "uqi", "rainy_psnr", "rainy_ssim", "rainy_uqi")}
    if val_pairs:
        pr = evaluate(derain, val_pairs)[0]["val-pairs"]
        out |= {"pairs_psnr": pr["psnr"], "pairs_rainy_psnr": pr["rainy_psnr"]}
    model.train(was_training)
    return out


def _initial_model(cfg: TrainConfig) -> DRN:
    """--model's architecture; with --init, its weights from that checkpoint.

    A checkpoint whose tensors do not fit --model (e.g. a pruned one) keeps its own architecture.
    Dilation changes no weight shape, so a plain drn_base checkpoint warm-starts the dilated one.
    """
    model = MODEL_FACTORIES[cfg.model]()
    if not cfg.init:
        return model
    from .artifacts import resolve_checkpoint

    loaded = load_checkpoint(resolve_checkpoint(cfg.init))[0]  # a path, or drn_base / drn_edge
    mine, theirs = model.state_dict(), loaded.state_dict()
    if mine.keys() == theirs.keys() and all(mine[k].shape == theirs[k].shape for k in mine):
        model.load_state_dict(theirs)
        if loaded.cfg.to_dict() | {"name": ""} != model.cfg.to_dict() | {"name": ""}:
            print(f"--init: weights of '{cfg.init}' loaded into the {cfg.model} architecture (same shapes, "
                  "other dilations)")
        return model
    print(f"--init: '{cfg.init}' does not fit {cfg.model}; training its own architecture ({loaded.cfg.name})")
    return loaded


def check_output(cfg: TrainConfig) -> None:
    """Refuse to overwrite a previous run by accident, and to 'resume' from nothing, before any work."""
    last = Path(cfg.out) / "last.safetensors"
    if cfg.resume and not last.is_file():
        raise CheckpointError(f"--resume: there is no checkpoint to resume at '{last}'; "
                              "drop --resume to start a new run there")
    if not cfg.resume and not cfg.overwrite and last.exists():
        raise OutputError(f"'{last}' already exists: pass --resume to continue that run, --overwrite to start "
                          "afresh over it, or choose another --out")
    if Path(cfg.out).exists() and not Path(cfg.out).is_dir():
        raise OutputError(f"--out '{cfg.out}' is a file, not a folder")
    from ._atomic import check_writable

    check_writable(last)  # before any training: a folder that cannot be written fails now, not at the first save


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
    check_output(cfg)
    sampler_seed = cfg.seed * 1000 + rank
    val_pairs = pair_frames(cfg.val_pairs, group="val-pairs") if cfg.val_pairs else None
    if cfg.resume:
        model, info, extra = load_checkpoint(last)
        start = int(info.get("step", 0))
    elif model is None:
        model = _initial_model(cfg)
    torch.manual_seed(cfg.seed + rank)
    model = model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    if extra:
        _load_optimizer(opt, extra)
    net = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    sampler = build_sampler(cfg, sampler_seed + start * 7919)

    history = info.get("history", [])
    elapsed_before = float(info.get("train_seconds", 0.0))
    t0 = time.time()
    bar = None
    if progress and rank == 0:
        from tqdm import tqdm

        bar = tqdm(total=cfg.steps, initial=start, desc="train", unit="step", dynamic_ncols=True,
                   mininterval=0.5 if sys.stderr.isatty() else 10.0)
    loss_ema = None
    deadline = t0 + cfg.max_minutes * 60 if cfg.max_minutes else None
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
        out_of_time = deadline is not None and time.time() > deadline
        is_last = done == cfg.steps or out_of_time
        if rank == 0 and (done % cfg.val_every == 0 or is_last):
            val = validate(model, val_pairs=val_pairs)
            history.append({"step": done, "loss": loss_ema, **val})
            msg = f"step {done}: loss {loss_ema:.4f}  held-out medium PSNR {val['rainy_psnr']:.2f} -> {val['psnr']:.2f} dB, SSIM {val['ssim']:.3f}"
            (bar.write if bar else print)(msg)
        if rank == 0 and (done % cfg.save_every == 0 or is_last):
            info = {"step": done, "train_config": asdict(cfg), "train_seconds": elapsed_before + time.time() - t0,
                    "history": history, "world_size": world}
            save_checkpoint(model, last, info, _optimizer_tensors(opt))
        if out_of_time:
            (bar.write if bar else print)(f"stopped after {cfg.max_minutes} minutes at step {done}")
            break
    if bar is not None:
        bar.close()
    if distributed:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return last
