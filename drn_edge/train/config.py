"""What drn-train is asked to do: the frozen TrainConfig (checked when made) and the defaults the CLI resolves."""
from __future__ import annotations

from dataclasses import dataclass

from drn_edge.artifacts import SHIPPED_MODELS
from drn_edge.checks import choice, hxw, items, number, whole
from drn_edge.errors import DrnEdgeError
from drn_edge.model.drn import MODEL_FACTORIES
from drn_edge.rain.family import parse_rain_mix
from drn_edge.train.scenes import LEAF_TEXTURES
from drn_edge.train.speed import PRECISIONS
from drn_edge.train.validation import VAL_BACKENDS

__all__ = ["TrainConfig", "FINETUNE_LR", "LOSSES", "default_init", "default_lr"]

# The per-pixel error of the loss. L1 (the design's) is minimized by the median: where a model cannot tell a faint
# streak from scene texture with better than even odds, L1 teaches it to leave the streak whole, so faint real
# streaks are left entirely. Squared error is minimized by the mean: the same doubt takes part of it away, and with
# faint drizzle possible anywhere that became a darkening of every frame (measured: docs/levers.md).
LOSSES = ("l1", "mse", "ssim-l1", "band")


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
    keep_every: int = 0              # also keep the weights of every Nth step as OUT/stepN.safetensors (0: none)
    seed: int = 0
    resume: bool = False
    overwrite: bool = False  # start afresh even if OUT/last.safetensors exists
    init: str | None = None  # start from these weights (e.g. fine-tuning a pruned model)
    teacher: str | None = None  # also match this model's output (distillation: train.teacher)
    clean: tuple[str, ...] = ()      # folders/videos of clean frames (synthetic rain on the fly)
    pairs: tuple[str, ...] = ()      # paired rainy/clean datasets
    weights: tuple[float, ...] = ()  # one per source: bundled default (if used), then clean..., then pairs...
    no_default_data: bool = False    # train only on --clean/--pairs
    val_pairs: tuple[str, ...] = ()  # paired sets to validate on (each one set of the balanced score)
    val_road: tuple[str, ...] = ()   # clean held-out frames validated at val_road_size x low/medium/high
    val_road_size: tuple[int, int] = (720, 1280)
    val_real: str | None = None      # real rainy frames (no ground truth): their mean change is logged, not scored
    val_side: int = 320              # held-out photos are validated shrunk to this longest side (speed)
    haze: bool = False               # draw the haze veil in some rain examples (see drn_edge.rain.family)
    max_minutes: float | None = None  # stop (and save) after this much wall time
    data_workers: int = 0            # processes rendering batches ahead of the step (train.batch_workers; 0: none)
    precision: str = "auto"          # auto | fp32 | bf16 (drn_edge.train.speed)
    compile: bool = False            # torch.compile the training step
    val_backend: str = "onnxruntime"  # how validation runs the current weights (drn_edge.train.validation)
    faint_boost: float = 3.0         # most a faint-rain example's loss is scaled up (1: every example weighs the same)
    rain_weight: float = 1.0         # how much more a pixel where rain was drawn counts in the loss (1: plain L1)
    darken_weight: float = 1.0       # how much more a pixel the output made darker than the clean frame counts
    loss: str = "l1"                 # l1 | mse | ssim-l1 | band: the error (LOSSES, drn_edge.train.losses)
    video_look: float = 0.0          # share of synthetic-rain examples seen through a video camera (sources.video_camera)
    dead_leaves: float = 0.0         # share of synthetic-rain examples drawn over a generated scene (train.scenes)
    leaf_textures: str = "plain"     # the generated scenes' textures (train.scenes.LEAF_TEXTURES)
    rain_mix: str = ""               # "NAME=W,..." training generators' weights ("": rain.family.TRAIN_WEIGHTS)

    def __post_init__(self) -> None:
        for name in ("clean", "pairs", "val_pairs", "val_road"):
            items(self, name, f"--{name.replace('_', '-')}")
        items(self, "weights", "--weights", kinds=(int, float))
        choice(self.model, sorted(MODEL_FACTORIES), "--model")
        whole(self.steps, "--steps", 1)
        whole(self.batch, "--batch", 1, 4096)
        if whole(self.crop, "--crop", 16, 1024) % 8:
            raise DrnEdgeError(f"--crop must be a multiple of 8 (from 16 to 1024), got {self.crop}")
        number(self.lr, "--lr", above=0)
        whole(self.warmup, "--warmup", 0)
        whole(self.val_every, "--val-every", 1)
        whole(self.save_every, "--save-every", 1)
        whole(self.keep_every, "--keep-every", 0)
        whole(self.seed, "--seed", 0)
        whole(self.val_side, "--val-side", 32, 4096)
        hxw(*self.val_road_size, "val_road_size")
        number(self.max_minutes, "--minutes", above=0, optional=True)
        whole(self.data_workers, "--data-workers", 0, 256)
        choice(self.precision, PRECISIONS, "--precision")
        choice(self.val_backend, VAL_BACKENDS, "--val-backend")
        choice(self.loss, LOSSES, "--loss")
        if number(self.faint_boost, "--faint-boost", low=1) > 10:
            raise DrnEdgeError(f"--faint-boost must be from 1 to 10, got {self.faint_boost}")
        if number(self.rain_weight, "--rain-weight", low=1) > 50:
            raise DrnEdgeError(f"--rain-weight must be from 1 to 50, got {self.rain_weight}")
        if number(self.darken_weight, "--darken-weight", low=1) > 50:
            raise DrnEdgeError(f"--darken-weight must be from 1 to 50, got {self.darken_weight}")
        if number(self.video_look, "--video-look", low=0) > 1:
            raise DrnEdgeError(f"--video-look is a share of examples, from 0 to 1, got {self.video_look}")
        if number(self.dead_leaves, "--dead-leaves", low=0) > 1:
            raise DrnEdgeError(f"--dead-leaves is a share of examples, from 0 to 1, got {self.dead_leaves}")
        choice(self.leaf_textures, sorted(LEAF_TEXTURES), "--leaf-textures")
        parse_rain_mix(self.rain_mix)
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
    if init is None and own_data and not resume and model in SHIPPED_MODELS:
        return model, f"fine-tuning from the shipped {model} on your data (pass --init none to start from random weights)"
    return (None if init == "none" else init), None


FINETUNE_LR = 3e-4  # the shipped models' fine-tuning rate: 2e-3 on good weights made a user's model worse


def default_lr(lr: float | None, init: str | None, resume: bool) -> float:
    """--lr as given; else the fine-tuning rate when starting from weights (--init), else TrainConfig's default."""
    if lr is not None:
        return lr
    return FINETUNE_LR if init and not resume else TrainConfig.lr
