"""Training loop: L1 between I - DRN(I) and the clean image, Adam, cosine LR; single process or torchrun DDP.

Resumable: OUT/last.safetensors holds weights, Adam moments and the step (no pickles).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from drn_edge.model.checkpoint import load_checkpoint, save_checkpoint
from drn_edge.evaluation.frames import LEVEL_NAMES, clean_dir_sources, heldout_sources, pair_frames, rain_frames
from drn_edge.errors import CheckpointError, DataError, DrnEdgeError, OutputError


class TrainingDiverged(DrnEdgeError):
    """The loss became NaN or infinite: no checkpoint is written from such weights."""
from drn_edge.evaluation.fidelity import balanced_score, evaluate, torch_derain
from drn_edge.model.drn import DRN, MODEL_FACTORIES
from drn_edge.imageio import read_pairs
from drn_edge.train.sources import MixedSampler, PairedSource, SyntheticRainSource, default_sources, read_clean_dir


@dataclass(frozen=True)
class TrainConfig:
    """What drn-train is asked to do; checked when made (each message names its drn-train flag)."""

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
    val_pairs: tuple[str, ...] = ()  # paired sets to validate on (each one set of the balanced score)
    val_road: tuple[str, ...] = ()   # clean held-out frames validated at val_road_size x low/medium/high
    val_road_size: tuple[int, int] = (720, 1280)
    val_side: int = 320              # held-out photos are validated shrunk to this longest side (speed)
    haze: bool = False               # draw the haze veil in some rain examples (see drn_edge.rain.family)
    max_minutes: float | None = None  # stop (and save) after this much wall time

    def __post_init__(self) -> None:
        from drn_edge.checks import choice, hxw, number, whole
        from drn_edge.model.drn import MODEL_FACTORIES

        choice(self.model, sorted(MODEL_FACTORIES), "--model")
        whole(self.steps, "--steps", 1)
        whole(self.batch, "--batch", 1, 4096)
        if whole(self.crop, "--crop", 16, 1024) % 8:
            raise DrnEdgeError(f"--crop must be a multiple of 8 (from 16 to 1024), got {self.crop}")
        number(self.lr, "--lr", above=0)
        whole(self.warmup, "--warmup", 0)
        whole(self.val_every, "--val-every", 1)
        whole(self.save_every, "--save-every", 1)
        whole(self.seed, "--seed", 0)
        whole(self.val_side, "--val-side", 32, 4096)
        hxw(*self.val_road_size, "val_road_size")
        number(self.max_minutes, "--minutes", above=0, optional=True)
        if any(not isinstance(w, (int, float)) or isinstance(w, bool) or not w >= 0 for w in self.weights) or \
                (self.weights and not sum(self.weights) > 0):
            raise DrnEdgeError(f"--weights must be numbers >= 0, not all 0; got {','.join(map(str, self.weights))}")
        if self.no_default_data and not (self.clean or self.pairs):
            raise DrnEdgeError("--no-default-data needs at least one --clean or --pairs source")
        if self.resume and self.overwrite:
            raise DrnEdgeError("--resume continues OUT/last.safetensors and --overwrite replaces it: give one")


def default_init(init: str | None, model: str, own_data: bool, resume: bool) -> tuple[str | None, str | None]:
    """The weights a run starts from, and a note when that was chosen for the user: bringing your own data
    (--clean/--pairs) fine-tunes the shipped model of --model, since a DRN from random weights needs far more
    steps than a user's fine-tune; 'none' asks for random weights."""
    from drn_edge.artifacts import SHIPPED_MODELS

    if init is None and own_data and not resume and model in SHIPPED_MODELS:
        return model, f"fine-tuning from the shipped {model} on your data (pass --init none to start from random weights)"
    return (None if init == "none" else init), None


def build_sampler(cfg: TrainConfig, seed: int) -> MixedSampler:
    """The training mix: the bundled data unless turned off, then each --clean and --pairs source."""
    sources, weights = ([], []) if cfg.no_default_data else default_sources(cfg.haze)
    default_weight = [sum(weights)] if weights else []
    if weights:
        sources = [_Mixture(sources, weights)]
    sources += [SyntheticRainSource(read_clean_dir(c), f"clean:{c}", cfg.haze) for c in cfg.clean]
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


class ValidationSets:
    """What a run validates on, built once: each entry is one set of the balanced score.

    Without --val-road the held-out photos (shrunk to val_side) stand in for road frames at each level.
    """

    def __init__(self, cfg: TrainConfig):
        if cfg.val_road:
            sources = [s for d in cfg.val_road for s in clean_dir_sources(d)]
            frames = rain_frames(sources, LEVEL_NAMES, size=cfg.val_road_size)
            h, w = cfg.val_road_size
            self.frames = [_regroup(f, f"road {w}x{h} {f.group}") for f in frames]
        else:
            frames = rain_frames(heldout_sources(max_side=cfg.val_side), LEVEL_NAMES)
            self.frames = [_regroup(f, f"photos {cfg.val_side}px {f.group}") for f in frames]
        for d in cfg.val_pairs:
            self.frames += pair_frames(d, group=f"pairs {Path(d).name}")

    def describe(self) -> str:
        groups: dict[str, int] = {}
        for f in self.frames:
            groups[f.group] = groups.get(f.group, 0) + 1
        return ", ".join(f"{g} ({n})" for g, n in groups.items())


def _regroup(frame, group: str):
    from dataclasses import replace

    return replace(frame, group=group)


def validate(model: DRN, sets: ValidationSets) -> dict:
    """Gain per validation set and the balanced score (drn_edge.evaluation.fidelity.balanced_score)."""
    was_training = model.training
    model.eval()
    table = evaluate(torch_derain(model, next(model.parameters()).device), sets.frames)[0]
    model.train(was_training)
    gains = {g: row["gain_db"] for g, row in table.items()}
    return {"gains": gains, "score": balanced_score(gains),
            "psnr": {g: row["psnr"] for g, row in table.items()},
            "rainy_psnr": {g: row["rainy_psnr"] for g, row in table.items()}}


def _initial_model(cfg: TrainConfig) -> DRN:
    """--model's architecture; with --init, its weights from that checkpoint.

    A checkpoint whose tensors do not fit --model (e.g. a pruned one) keeps its own architecture.
    Dilation changes no weight shape, so a plain drn_base checkpoint warm-starts the dilated one.
    """
    model = MODEL_FACTORIES[cfg.model]()
    if not cfg.init:
        return model
    from drn_edge.artifacts import resolve_checkpoint

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


def _resume_step(info: dict, cfg: TrainConfig, last: Path) -> int:
    """The step a checkpoint says it reached, checked: a whole number from 0 to --steps."""
    step = info.get("step", 0)
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise CheckpointError(f"'{last}' records step {step!r}, not a whole number >= 0; the file was edited or "
                              f"damaged: start a new run from its weights with --init {last} --out NEW_FOLDER")
    if step > cfg.steps:
        raise CheckpointError(f"'{last}' is at step {step}, past --steps {cfg.steps}: nothing to resume; raise --steps")
    return step


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
    from drn_edge.artifacts import resolve_checkpoint
    from drn_edge.outputs import plan_outputs

    # Before any training: an output that is an input (--init, a data folder), a link, or unwritable fails now.
    out = Path(cfg.out)
    plan_outputs({f"--out ({name})": out / name for name in ("last.safetensors", "best.safetensors", "log.csv")},
                 files=[resolve_checkpoint(cfg.init)] if cfg.init else [],
                 folders=[*cfg.clean, *cfg.pairs, *cfg.val_pairs, *cfg.val_road])


def describe_sources(sampler: MixedSampler) -> str:
    """One line per source: name, frames, sampling share (printed at start-up)."""
    parts = []
    for src, p in zip(sampler.sources, sampler.p):
        inner = getattr(src, "sources", [src])
        n = sum(len(getattr(s, "images", getattr(s, "pairs", ()))) for s in inner)
        names = "+".join(getattr(s, "name", type(s).__name__) for s in inner)
        parts.append(f"{names} ({n} frames, {100 * p:.0f} %)")
    return "; ".join(parts)


def _append_log(path: Path, step: int, loss: float, lr: float, val: dict) -> None:
    """OUT/log.csv: one row per validation (step, loss, lr, score, gain per set)."""
    import csv

    new = not path.exists()
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["step", "loss", "lr", "score"] + [f"gain {g}" for g in val["gains"]])
        w.writerow([step, f"{loss:.5f}", f"{lr:.3e}", f"{val['score']:.3f}"] + [f"{v:.3f}" for v in val["gains"].values()])


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
    val_sets = ValidationSets(cfg) if rank == 0 else None
    if cfg.resume:
        model, info, extra = load_checkpoint(last)
        start = _resume_step(info, cfg, last)
    elif model is None:
        model = _initial_model(cfg)
    torch.manual_seed(cfg.seed + rank)
    model = model.to(device).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    if extra:
        try:
            _load_optimizer(opt, extra)
        except (KeyError, ValueError, RuntimeError, TypeError, IndexError) as exc:
            raise CheckpointError(f"the optimizer state in '{last}' is damaged ({type(exc).__name__}); to keep its "
                                  f"weights start a new run from them: --init {last} --out NEW_FOLDER") from None
    net = model
    if distributed:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    sampler = build_sampler(cfg, sampler_seed + start * 7919)
    out.mkdir(parents=True, exist_ok=True)  # every check has passed: the run starts here
    if rank == 0:
        print(f"training data: {describe_sources(sampler)}")
        print(f"validation every {cfg.val_every} steps on: {val_sets.describe()}")

    history = info.get("history", []) if isinstance(info.get("history"), list) else []
    best = info.get("best_score", -math.inf)
    best_score = float(best) if isinstance(best, (int, float)) and not isinstance(best, bool) else -math.inf
    elapsed_before = float(info.get("train_seconds", 0.0))
    t0 = time.time()
    bar = None
    if progress and rank == 0:
        from drn_edge.progress import progress_bar

        bar = progress_bar(total=cfg.steps, initial=start, desc="train", unit="step")
    loss_ema = None
    deadline = t0 + cfg.max_minutes * 60 if cfg.max_minutes else None
    for step in range(start, cfg.steps):
        rainy, clean = sampler.batch(cfg.batch)
        rainy, clean = torch.from_numpy(rainy).to(device), torch.from_numpy(clean).to(device)
        for g in opt.param_groups:
            g["lr"] = _lr(cfg, step)
        loss = F.l1_loss(net(rainy), clean)
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"training diverged at step {step + 1} (loss {loss.item()}): nothing was saved "
                                   f"after step {start if not history else history[-1]['step']}; lower --lr "
                                   f"(now {cfg.lr:g}) and --resume or start again")
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
        new_best = False
        if rank == 0 and (done % cfg.val_every == 0 or is_last):
            val = validate(model, val_sets)
            history.append({"step": done, "loss": loss_ema, "score": val["score"], "gains": val["gains"]})
            new_best = val["score"] > best_score
            best_score = max(best_score, val["score"])
            gains = "  ".join(f"{g} {v:+.2f}" for g, v in val["gains"].items())
            (bar.write if bar else print)(f"step {done}: loss {loss_ema:.4f}  score {val['score']:+.2f} dB"
                                          f"{' (best)' if new_best else ''}  gains: {gains}")
            _append_log(out / "log.csv", done, loss_ema, _lr(cfg, step), val)
        if rank == 0 and (done % cfg.save_every == 0 or is_last or new_best):
            if not all(torch.isfinite(p).all() for p in model.parameters()):
                raise TrainingDiverged(f"training diverged by step {done} (non-finite weights): '{last}' was not "
                                       f"replaced; lower --lr (now {cfg.lr:g})")
            info = {"step": done, "train_config": asdict(cfg), "train_seconds": elapsed_before + time.time() - t0,
                    "history": history, "world_size": world, "best_score": best_score}
            save_checkpoint(model, last, info, _optimizer_tensors(opt))
            if new_best:
                save_checkpoint(model, out / "best.safetensors", info)
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
