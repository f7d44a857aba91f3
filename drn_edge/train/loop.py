"""Training loop: L1 between I - DRN(I) and the clean image, Adam, cosine LR; single process or torchrun DDP.

Resumable: OUT/last.safetensors holds weights, Adam moments and the step (no pickles).
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from drn_edge.errors import CheckpointError, DataError, DrnEdgeError, OutputError
from drn_edge.imageio import read_pairs
from drn_edge.model.checkpoint import load_checkpoint, save_checkpoint
from drn_edge.model.drn import DRN, MODEL_FACTORIES
from drn_edge.train.sources import MixedSampler, PairedSource, SyntheticRainSource, default_sources, read_clean_dir
from drn_edge.train.speed import PRECISIONS, choose_step_plan
from drn_edge.train.validation import VAL_BACKENDS, ValidationSets, validate

__all__ = ["TrainConfig", "TrainingDiverged", "ValidationSets", "validate", "build_sampler", "default_init", "train",
           "check_output", "describe_sources", "sample_weights"]


class TrainingDiverged(DrnEdgeError):
    """The loss became NaN or infinite: no checkpoint is written from such weights."""


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
    precision: str = "auto"          # auto | fp32 | bf16 (drn_edge.train.speed)
    compile: bool = False            # torch.compile the training step
    val_backend: str = "onnxruntime"  # how validation runs the current weights (drn_edge.train.validation)
    faint_boost: float = 3.0         # most a faint-rain example's loss is scaled up (1: every example weighs the same)

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
        choice(self.precision, PRECISIONS, "--precision")
        choice(self.val_backend, VAL_BACKENDS, "--val-backend")
        if number(self.faint_boost, "--faint-boost", low=1) > 10:
            raise DrnEdgeError(f"--faint-boost must be from 1 to 10, got {self.faint_boost}")
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


FAINT_RAIN_LEVEL = 0.03  # mean |rainy - clean| (about 8 grey levels) below which an example counts as faint rain


def sample_weights(rainy: np.ndarray, clean: np.ndarray, boost: float) -> np.ndarray | None:
    """Per-example loss weights: faint rain carries little L1 signal, so a model learns it last; its examples
    weigh up to `boost` times more (sqrt of how much fainter than FAINT_RAIN_LEVEL). Rain-free examples weigh 1."""
    if boost <= 1:
        return None
    amount = np.abs(rainy - clean).mean(axis=(1, 2, 3))
    w = np.where(amount > 1e-4, np.sqrt(FAINT_RAIN_LEVEL / np.maximum(amount, 1e-6)), 1.0)
    return np.clip(w, 1.0, boost).astype(np.float32)


def _weighted_l1(out: torch.Tensor, clean: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    per_example = (out.float() - clean).abs().mean(dim=(1, 2, 3))
    if weights is None:
        return per_example.mean()
    return (per_example * weights).sum() / weights.sum()


def _setup_distributed() -> tuple[int, int, torch.device]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        import torch.distributed as dist

        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    device = torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}" if torch.cuda.is_available() else "cpu")
    return world, rank, device


def _start_state(cfg: TrainConfig, model: DRN | None, last: Path) -> tuple[DRN, int, dict, dict]:
    """The model, the step to start at, the checkpoint's info and its optimizer tensors."""
    if cfg.resume:
        model, info, extra = load_checkpoint(last)
        return model, _resume_step(info, cfg, last), info, extra
    return (model if model is not None else _initial_model(cfg)), 0, {}, {}


def _optimizer(model: DRN, cfg: TrainConfig, extra: dict, last: Path) -> torch.optim.Optimizer:
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    if extra:
        try:
            _load_optimizer(opt, extra)
        except (KeyError, ValueError, RuntimeError, TypeError, IndexError) as exc:
            raise CheckpointError(f"the optimizer state in '{last}' is damaged ({type(exc).__name__}); to keep its "
                                  f"weights start a new run from them: --init {last} --out NEW_FOLDER") from None
    return opt


class _Run:
    """One run's mutable state: history, best score, timing, and the writes of validation and checkpoints."""

    def __init__(self, cfg: TrainConfig, model: DRN, opt, info: dict, world: int, val_sets):
        self.cfg, self.model, self.opt, self.world, self.val_sets = cfg, model, opt, world, val_sets
        self.out = Path(cfg.out)
        self.history = info.get("history", []) if isinstance(info.get("history"), list) else []
        best = info.get("best_score", -math.inf)
        self.best = float(best) if isinstance(best, (int, float)) and not isinstance(best, bool) else -math.inf
        self.elapsed_before = float(info.get("train_seconds", 0.0))
        self.t0 = time.time()

    def validate(self, done: int, loss_ema: float, lr: float, say) -> bool:
        val = validate(self.model, self.val_sets, self.cfg.val_backend)
        self.history.append({"step": done, "loss": loss_ema, "score": val["score"], "gains": val["gains"]})
        new_best = val["score"] > self.best
        self.best = max(self.best, val["score"])
        gains = "  ".join(f"{g} {v:+.2f}" for g, v in val["gains"].items())
        loss_text = "n/a" if math.isnan(loss_ema) else f"{loss_ema:.4f}"
        say(f"step {done}: loss {loss_text}  score {val['score']:+.2f} dB{' (best)' if new_best else ''}  "
            f"gains: {gains}")
        _append_log(self.out / "log.csv", done, loss_ema, lr, val)
        return new_best

    def save(self, done: int, new_best: bool) -> None:
        last = self.out / "last.safetensors"
        if not all(torch.isfinite(p).all() for p in self.model.parameters()):
            raise TrainingDiverged(f"training diverged by step {done} (non-finite weights): '{last}' was not "
                                   f"replaced; lower --lr (now {self.cfg.lr:g})")
        info = {"step": done, "train_config": asdict(self.cfg),
                "train_seconds": self.elapsed_before + time.time() - self.t0,
                "history": self.history, "world_size": self.world, "best_score": self.best}
        save_checkpoint(self.model, last, info, _optimizer_tensors(self.opt))
        if new_best:
            save_checkpoint(self.model, self.out / "best.safetensors", info)


def train(cfg: TrainConfig, model: DRN | None = None, progress: bool = True) -> Path:
    """Train and return the path of the final checkpoint (OUT/last.safetensors)."""
    world, rank, device = _setup_distributed()
    last = Path(cfg.out) / "last.safetensors"
    check_output(cfg)
    val_sets = ValidationSets(cfg) if rank == 0 else None
    model, start, info, extra = _start_state(cfg, model, last)
    torch.manual_seed(cfg.seed + rank)
    model = model.to(device).train()
    plan = choose_step_plan(cfg.precision, cfg.compile, device)
    net = plan.prepare(model)
    opt = _optimizer(model, cfg, extra, last)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    sampler = build_sampler(cfg, cfg.seed * 1000 + rank + start * 7919)
    Path(cfg.out).mkdir(parents=True, exist_ok=True)  # every check has passed: the run starts here
    run = _Run(cfg, model, opt, info, world, val_sets)
    bar = None
    if rank == 0:
        print(f"training data: {describe_sources(sampler)}")
        print(f"validation every {cfg.val_every} steps ({cfg.val_backend}) on: {val_sets.describe()}")
        print(plan.note)
        if progress:
            from drn_edge.progress import progress_bar

            bar = progress_bar(total=cfg.steps, initial=start, desc="train", unit="step")
    say = bar.write if bar else print
    if rank == 0 and start == 0:  # the starting weights are scored: a run never keeps a 'best' worse than its start
        say("scoring the starting weights (step 0)")
        run.validate(0, float("nan"), 0.0, say)
        run.save(0, True)
    loss_ema = None
    deadline = run.t0 + cfg.max_minutes * 60 if cfg.max_minutes else None
    for step in range(start, cfg.steps):
        rainy_np, clean_np = sampler.batch(cfg.batch)
        weights = sample_weights(rainy_np, clean_np, cfg.faint_boost)
        rainy = plan.layout(torch.from_numpy(rainy_np).to(device))
        clean = plan.layout(torch.from_numpy(clean_np).to(device))
        for g in opt.param_groups:
            g["lr"] = _lr(cfg, step)
        with plan.autocast(device):
            out = net(rainy)
        loss = _weighted_l1(out, clean, None if weights is None else torch.from_numpy(weights).to(device))
        if not torch.isfinite(loss):
            raise TrainingDiverged(f"training diverged at step {step + 1} (loss {loss.item()}): nothing was saved "
                                   f"after step {start if not run.history else run.history[-1]['step']}; lower --lr "
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
        new_best = rank == 0 and (done % cfg.val_every == 0 or is_last) and run.validate(done, loss_ema, _lr(cfg, step), say)
        if rank == 0 and (done % cfg.save_every == 0 or is_last or new_best):
            run.save(done, new_best)
        if out_of_time:
            say(f"stopped after {cfg.max_minutes} minutes at step {done}")
            break
    if bar is not None:
        bar.close()
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return last
