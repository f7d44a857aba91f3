"""Training loop: L1 (drn_edge.train.losses) between I - DRN(I) and the clean image, Adam, cosine LR; single process or torchrun DDP.

Resumable: OUT/last.safetensors holds weights, Adam moments and the step (no pickles).
"""
from __future__ import annotations

import contextlib
import csv
import io
import math
import os
import time
from dataclasses import asdict
from pathlib import Path

import torch

from drn_edge.artifacts import resolve_checkpoint
from drn_edge.errors import CheckpointError, DataError, DrnEdgeError, OutputError
from drn_edge.imageio import read_pairs
from drn_edge.model.checkpoint import load_checkpoint, save_checkpoint
from drn_edge.model.drn import DRN, MODEL_FACTORIES
from drn_edge.outputs import output_lock, plan_outputs, write_bytes
from drn_edge.progress import progress_bar
from drn_edge.rain.family import TRAIN_GENERATORS, parse_rain_mix
from drn_edge.train.batch_workers import BatchWorkers
from drn_edge.train.config import FINETUNE_LR, TrainConfig, default_init, default_lr
from drn_edge.train.losses import pixel_weights, sample_weights, weighted_loss
from drn_edge.train.sources import MixedSampler, PairedSource, SyntheticRainSource, default_sources, read_clean_dir
from drn_edge.train.speed import choose_step_plan
from drn_edge.train.teacher import TEACHER_SHARE, Teacher
from drn_edge.train.validation import ValidationSets, validate

__all__ = ["TrainConfig", "TrainingDiverged", "ValidationSets", "validate", "build_sampler", "default_init", "train",
           "check_output", "describe_sources", "sample_weights", "default_lr", "FINETUNE_LR"]


class TrainingDiverged(DrnEdgeError):
    """The loss became NaN or infinite: no checkpoint is written from such weights."""


def build_sampler(cfg: TrainConfig, seed: int) -> MixedSampler:
    """The training mix: the bundled data unless turned off, then each --clean and --pairs source."""
    look = (cfg.haze, cfg.video_look, cfg.dead_leaves, cfg.leaf_textures, cfg.rain_mix)
    sources, weights = ([], []) if cfg.no_default_data else default_sources(*look)
    default_weight = [sum(weights)] if weights else []
    if weights:
        sources = [_Mixture(sources, weights)]
    sources += [SyntheticRainSource(read_clean_dir(c), f"clean:{c}", *look) for c in cfg.clean]
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

    # Before any training: an output that is an input (--init, a data folder), a link, or unwritable fails now.
    out = Path(cfg.out)
    plan_outputs({f"--out ({name})": out / name for name in ("last.safetensors", "best.safetensors", "log.csv")},
                 files=[resolve_checkpoint(c) for c in (cfg.init, cfg.teacher) if c],
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


REAL_COLUMN = "real rain change"  # mean |input - output| on --val-real frames, grey levels (not part of the score)


def _append_log(path: Path, step: int, loss: float | None, lr: float, val: dict) -> None:
    """OUT/log.csv: one row per validation (step, loss, lr, score, gain per set)."""
    real = val.get("real_change")
    new = not path.exists()
    if new:
        header = ["step", "loss", "lr", "score"] + [f"gain {g}" for g in val["gains"]] + ([REAL_COLUMN] if real is not None else [])
    else:  # a resumed run keeps the columns its log began with
        with open(path, newline="") as f:
            header = next(csv.reader(f), [])
    with open(path, "a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(header)
        w.writerow([step, "" if loss is None else f"{loss:.5f}", f"{lr:.3e}", f"{val['score']:.3f}"]
                   + [f"{v:.3f}" for v in val["gains"].values()] + ([f"{real:.3f}"] if REAL_COLUMN in header else []))


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
        step = _resume_step(info, cfg, last)
        _check_resume(cfg, info, extra, last)
        _drop_lost_log_rows(Path(cfg.out) / "log.csv", step)
        return model, step, info, extra
    return (model if model is not None else _initial_model(cfg)), 0, {}, {}


def _check_resume(cfg: TrainConfig, info: dict, extra: dict, last: Path) -> None:
    """--resume continues the run that wrote OUT/last.safetensors, or says why it cannot: it silently continued
    another --model's run and recorded the new options, and restarted at step 0 without optimizer state."""
    if cfg.init:
        raise CheckpointError(f"--resume continues '{last}' from its own weights; --init applies to new runs only: "
                              "drop --init, or start a new run with --init and another --out")
    before = info.get("train_config") if isinstance(info.get("train_config"), dict) else {}
    if before.get("model") not in (None, cfg.model):
        raise CheckpointError(f"'{last}' is a --model {before['model']} run; resume it with --model {before['model']}, "
                              f"or start a new {cfg.model} run in another --out")
    if not any(k.startswith("optim.") for k in extra):
        raise CheckpointError(f"'{last}' holds no optimizer state (not a drn-train resume point): start a new run from "
                              f"its weights with --init {last} --out NEW_FOLDER")


def _drop_lost_log_rows(log: Path, step: int) -> None:
    """log.csv rows after the resumed step belong to steps that were lost (not saved): they go."""
    if not log.is_file():
        return
    with open(log, newline="") as f:
        rows = list(csv.reader(f))
    kept = rows[:1] + [r for r in rows[1:] if r and r[0].isdigit() and int(r[0]) <= step]
    if len(kept) != len(rows):
        buf = io.StringIO()
        csv.writer(buf).writerows(kept)
        write_bytes(log, buf.getvalue().encode())


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

    def __init__(self, cfg: TrainConfig, model: DRN, opt, info: dict, world: int, val_sets, teacher=None):
        self.cfg, self.model, self.opt, self.world, self.val_sets = cfg, model, opt, world, val_sets
        self.teacher: Teacher | None = teacher
        self.out = Path(cfg.out)
        self.history = info.get("history", []) if isinstance(info.get("history"), list) else []
        best = info.get("best_score", -math.inf)
        self.best = float(best) if isinstance(best, (int, float)) and not isinstance(best, bool) else -math.inf
        self.elapsed_before = float(info.get("train_seconds", 0.0))
        self.t0 = time.time()

    def validate(self, done: int, loss_ema: float | None, lr: float, say) -> bool:
        val = validate(self.model, self.val_sets, self.cfg.val_backend)
        entry = {"step": done, "loss": loss_ema, "score": val["score"], "gains": val["gains"]}
        if val["real_change"] is not None:
            entry["real_change"] = val["real_change"]
        self.history.append(entry)
        new_best = val["score"] > self.best
        self.best = max(self.best, val["score"])
        gains = "  ".join(f"{g} {v:+.2f}" for g, v in val["gains"].items())
        loss_text = "n/a" if loss_ema is None else f"{loss_ema:.4f}"
        real = "" if val["real_change"] is None else f"  real rain change {val['real_change']:.2f} grey levels"
        say(f"step {done}: loss {loss_text}  score {val['score']:+.2f} dB{' (best)' if new_best else ''}  "
            f"gains: {gains}{real}")
        _append_log(self.out / "log.csv", done, loss_ema, lr, val)
        return new_best

    def keeps(self, done: int) -> bool:
        """--keep-every: this step's weights are also kept as OUT/stepN.safetensors."""
        return bool(self.cfg.keep_every and done and done % self.cfg.keep_every == 0)

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
        if self.keeps(done):  # weights only, to average later
            save_checkpoint(self.model, self.out / f"step{done}.safetensors", info)


def _step(cfg: TrainConfig, step: int, batch, net, opt, plan, device, run: _Run, start: int) -> float:
    """One optimizer step on (rainy, clean) numpy batches; the loss value."""
    rainy_np, clean_np = batch
    weights = sample_weights(rainy_np, clean_np, cfg.faint_boost)
    rainy = plan.layout(torch.from_numpy(rainy_np).to(device))
    clean = plan.layout(torch.from_numpy(clean_np).to(device))
    for g in opt.param_groups:
        g["lr"] = _lr(cfg, step)
    with plan.autocast(device):
        out = net(rainy)
    loss = weighted_loss(out, clean, None if weights is None else torch.from_numpy(weights).to(device),
                         pixel_weights(rainy, clean, cfg.rain_weight, out, cfg.darken_weight), cfg.loss)
    if run.teacher is not None:
        loss = run.teacher.blend(loss, rainy, out)
    if not torch.isfinite(loss):
        raise TrainingDiverged(f"training diverged at step {step + 1} (loss {loss.item()}): nothing was saved "
                               f"after step {start if not run.history else run.history[-1]['step']}; lower --lr "
                               f"(now {cfg.lr:g}) and --resume or start again"
                               + (f"; within the first steps, try --precision fp32 (this run: {plan.precision})"
                                  if step - start < 10 and plan.precision != "fp32" else ""))
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def train(cfg: TrainConfig, model: DRN | None = None, progress: bool = True) -> Path:
    """Train and return the path of the final checkpoint (OUT/last.safetensors)."""
    world, rank, device = _setup_distributed()
    last = Path(cfg.out) / "last.safetensors"
    check_output(cfg)
    model, start, info, extra = _start_state(cfg, model, last)
    if start == cfg.steps:  # resumed at its end: say so before building data and compiling for nothing
        if rank == 0:
            print(f"'{last}' is already at step {start} of --steps {cfg.steps}: the run is complete, nothing to "
                  "train (raise --steps to continue it)")
        return last
    val_sets = ValidationSets(cfg) if rank == 0 else None
    torch.manual_seed(cfg.seed + rank)
    model = model.to(device).train()
    plan = choose_step_plan(cfg.precision, cfg.compile, device)
    net = plan.prepare(model, device)
    teacher = Teacher(cfg.teacher, plan, device) if cfg.teacher else None  # before any write: a bad path fails here
    opt = _optimizer(model, cfg, extra, last)
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(net, device_ids=[device.index] if device.type == "cuda" else None)
    sampler = build_sampler(cfg, cfg.seed * 1000 + rank + start * 7919)
    locks = contextlib.ExitStack()
    if rank == 0:  # one run at a time into OUT (two runs overwrote each other's checkpoints in silence)
        locks.enter_context(output_lock(cfg.out, "drn-train"))
    bar, loss_ema, done, workers = None, None, start, None
    try:
        Path(cfg.out).mkdir(parents=True, exist_ok=True)  # every check has passed: the run starts here
        run = _Run(cfg, model, opt, info, world, val_sets, teacher)
        bar = _start_report(cfg, sampler, val_sets, plan, start, progress) if rank == 0 else None
        say = bar.write if bar else print
        if rank == 0 and start == 0:  # the starting weights are scored: a run never keeps a 'best' worse than its start
            say("scoring the starting weights (step 0)")
            run.validate(0, None, 0.0, say)
            run.save(0, True)
        deadline = run.t0 + cfg.max_minutes * 60 if cfg.max_minutes else None
        if cfg.data_workers:
            workers = BatchWorkers(sampler, cfg.batch, cfg.data_workers, cfg.seed * 1000 + rank, start)
        for step in range(start, cfg.steps):
            batch = workers.next() if workers else sampler.batch(cfg.batch)
            loss = _step(cfg, step, batch, net, opt, plan, device, run, start)
            loss_ema = loss if loss_ema is None else 0.98 * loss_ema + 0.02 * loss
            done = step + 1
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss_ema:.4f}", lr=f"{_lr(cfg, step):.1e}")
            out_of_time = deadline is not None and time.time() > deadline
            is_last = done == cfg.steps or out_of_time
            new_best = rank == 0 and (done % cfg.val_every == 0 or is_last) and run.validate(done, loss_ema, _lr(cfg, step), say)
            if rank == 0 and (done % cfg.save_every == 0 or is_last or new_best or run.keeps(done)):
                run.save(done, new_best)
            if out_of_time:
                say(f"stopped after {cfg.max_minutes} minutes at step {done}")
                break
    except KeyboardInterrupt:
        if rank == 0 and done > start:  # Ctrl-C keeps the steps done: the run continues with --resume
            run.save(done, False)
            say(f"interrupted at step {done}: saved {last}; continue with drn-train --out {cfg.out} --resume")
        raise
    finally:
        if bar is not None:
            bar.close()
        if workers is not None:
            workers.close()
        locks.close()
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
        dist.destroy_process_group()
    return last


def _start_report(cfg: TrainConfig, sampler, val_sets, plan, start: int, progress: bool):
    """What the run trains on, validates on and how a step runs; the progress bar (None without one)."""
    look = f"; {100 * cfg.video_look:g} % of synthetic-rain examples through a video camera" if cfg.video_look else ""
    if cfg.dead_leaves:
        look += (f"; {100 * cfg.dead_leaves:g} % of synthetic-rain examples over a generated dead-leaves scene "
                 f"({cfg.leaf_textures} leaf textures)")
    if cfg.rain_mix:
        mix = dict(zip(TRAIN_GENERATORS, parse_rain_mix(cfg.rain_mix)))
        look += "; rain generators drawn " + ", ".join(f"{g} {100 * w:.0f} %" for g, w in mix.items() if w)
    print(f"training data: {describe_sources(sampler)}{look}")
    print(f"validation every {cfg.val_every} steps ({cfg.val_backend}) on: {val_sets.describe()}")
    print(plan.note)
    if cfg.teacher:
        print(f"distillation: {100 * TEACHER_SHARE:g} % of the loss is the distance to {cfg.teacher}'s output")
    if not progress:
        return None

    return progress_bar(total=cfg.steps, initial=start, desc="train", unit="step")
