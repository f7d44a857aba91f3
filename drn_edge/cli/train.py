"""drn-train: train a DRN on synthetic rain over the bundled photos (CPU, or GPUs under torchrun)."""
from __future__ import annotations

import argparse
import os

from drn_edge.cli import friendly_errors, threads_option
from drn_edge.errors import DrnEdgeError


def build_parser() -> argparse.ArgumentParser:
    # lazy: keeps `--help` and argument errors instant; this loads OpenCV, torch
    from drn_edge.model.drn import MODEL_FACTORIES
    from drn_edge.rain.family import TRAIN_GENERATORS
    from drn_edge.train.config import LOSSES
    from drn_edge.train.loop import FINETUNE_LR, TrainConfig
    from drn_edge.train.scenes import LEAF_TEXTURES
    from drn_edge.train.speed import PRECISIONS
    from drn_edge.train.validation import VAL_BACKENDS

    d = TrainConfig()
    p = argparse.ArgumentParser(
        prog="drn-train",
        description="Train a deraining network. Multi-process: torchrun --nproc_per_node N -m drn_edge.cli.train ...",
    )
    p.add_argument("--out", default=d.out, help="output folder; OUT/last.safetensors is the checkpoint (default: %(default)s)")
    p.add_argument("--model", default=d.model, choices=sorted(MODEL_FACTORIES), help="architecture (default: %(default)s)")
    p.add_argument("--init", default=None, help="start from this checkpoint's weights (into --model when the shapes fit, "
                   "else its own architecture, e.g. a pruned model); 'none' for random weights (default: the shipped "
                   "model of --model when you bring --clean/--pairs data, else random)")
    p.add_argument("--steps", type=int, default=d.steps, help="total optimizer steps (default: %(default)s)")
    p.add_argument("--batch", type=int, default=d.batch, help="crops per step and process (default: %(default)s)")
    p.add_argument("--crop", type=int, default=d.crop, help="crop size, a multiple of 8 (default: %(default)s)")
    p.add_argument("--lr", type=float, default=None, help="peak learning rate, cosine decay (default: "
                   f"{FINETUNE_LR:g} when starting from --init weights, the shipped fine-tuning recipe; {d.lr:g} from "
                   "random weights)")
    p.add_argument("--val-every", type=int, default=d.val_every, help="validate on held-out frames every N steps (default: %(default)s)")
    p.add_argument("--save-every", type=int, default=d.save_every, help="write OUT/last.safetensors every N steps (default: %(default)s)")
    p.add_argument("--keep-every", type=int, default=d.keep_every,
                   help="also keep every Nth step's weights as OUT/stepN.safetensors, to average late copies with "
                        "benchmarks/average_checkpoints.py (default: %(default)s, none)")
    p.add_argument("--seed", type=int, default=d.seed, help="data and init seed (default: %(default)s)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors (an error if there is none) (default: off)")
    p.add_argument("--overwrite", action="store_true", help="start afresh even if OUT/last.safetensors exists (default: off)")
    p.add_argument("--clean", action="append", default=[], metavar="DIR",
                   help="folder (or video) of clean frames to train on under synthetic rain; repeatable (default: none)")
    p.add_argument("--pairs", action="append", default=[], metavar="DIR",
                   help="paired rainy/clean set (input/+target/, rain/+norain/, or *rain.*/*gt.* names); repeatable "
                        "(default: none)")
    p.add_argument("--weights", default=None, metavar="W,W,..",
                   help="sampling weight per source: the bundled data first (unless --no-default-data), then each "
                        "--clean, then each --pairs (default: bundled data 1, each other source 1)")
    p.add_argument("--no-default-data", action="store_true", help="train only on --clean/--pairs sources (default: off)")
    p.add_argument("--val-pairs", action="append", default=[], metavar="DIR",
                   help="validate on this paired set too (one set of the balanced score); repeatable (default: none)")
    p.add_argument("--val-road", action="append", default=[], metavar="DIR",
                   help="validate on these held-out clean frames at 1280x720 under low/medium/high rain, instead of "
                        "the held-out photos; repeatable (default: none)")
    p.add_argument("--val-real", metavar="DIR",
                   help="real rainy frames without ground truth: each validation logs how much the model changes "
                        "them (grey levels, the 'real rain change' column), beside the score and not part of it "
                        "(default: none)")
    p.add_argument("--haze", action="store_true",
                   help="draw the haze veil in some rain examples (off: a veil remover darkens bright scenes) "
                        "(default: off)")
    p.add_argument("--video-look", type=float, default=d.video_look, metavar="SHARE",
                   help="share of synthetic-rain examples whose rainy frame and clean target go through one random "
                        "low-bitrate video camera together (shrunk and upscaled, sharpened, JPEG 15-50): the look "
                        "of real rainy frames, their streaks included (default: %(default)s)")
    p.add_argument("--dead-leaves", type=float, default=d.dead_leaves, metavar="SHARE",
                   help="share of synthetic-rain examples drawn over a generated dead-leaves scene (textured shapes "
                        "of every size) instead of a training frame: rain over more kinds of texture than road "
                        "frames show (default: %(default)s)")
    p.add_argument("--leaf-textures", choices=sorted(LEAF_TEXTURES), default=d.leaf_textures,
                   help="the generated scenes' textures: plain (flat, grain, gratings: run 12) or rich (mostly "
                        "fractal 1/f noise, half the shapes lit by a ramp: closer to foliage, rock and fur) "
                        "(default: %(default)s)")
    p.add_argument("--rain-mix", default=d.rain_mix, metavar="NAME=W,..",
                   help="how often each rain generator is drawn in training, e.g. photoshop=0.5,drizzle=0.5 (the "
                        "generators not named are never drawn; from: " + ", ".join(TRAIN_GENERATORS) + ") "
                        "(default: the family's own mix, docs/data.md)")
    p.add_argument("--warmup", type=int, default=d.warmup, help="linear learning-rate warm-up steps (default: %(default)s)")
    p.add_argument("--val-side", type=int, default=d.val_side,
                   help="held-out photos are validated shrunk to this longest side, px (default: %(default)s)")
    p.add_argument("--minutes", type=float, default=None, help="stop and save after this many minutes of training (default: no limit)")
    p.add_argument("--data-workers", type=int, default=d.data_workers, metavar="N",
                   help="processes that draw the training batches ahead of the step: on a GPU drawing the rain on "
                        "one core is the step (32 crops of 192 px: about 1.6 s), so give it the free cores; each "
                        "batch is seeded by the step, so a run's batches do not depend on N; 0 draws them in the "
                        "training process (default: %(default)s)")
    p.add_argument("--precision", default=d.precision, choices=PRECISIONS,
                   help="training step precision: auto takes bf16 autocast where the CPU has amx_bf16/avx512_bf16 "
                        "or the GPU supports it, else fp32; loss and optimizer stay fp32 (default: %(default)s)")
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the training step (~1.4x faster steps after ~1 min of compiling) (default: off)")
    p.add_argument("--val-backend", default=d.val_backend, choices=VAL_BACKENDS,
                   help="run validation through ONNX Runtime (the current weights exported in memory; ~10x faster "
                        "on a CPU) or PyTorch (default: %(default)s)")
    p.add_argument("--faint-boost", type=float, default=d.faint_boost,
                   help="most a faint-rain example's loss is scaled up (its L1 signal is small); 1 weighs every "
                        "example the same (default: %(default)s)")
    p.add_argument("--rain-weight", type=float, default=d.rain_weight,
                   help="how much more a pixel where rain was drawn counts in the loss than a scene pixel (a faint "
                        "streak covers few pixels, so leaving it costs the plain L1 little); 1 is the plain L1 "
                        "(default: %(default)s)")
    p.add_argument("--loss", default=d.loss, choices=LOSSES,
                   help="per-pixel error: l1 (the design's) leaves a faint streak whole wherever the model cannot "
                        "tell it from scene texture with better than even odds (the median); mse takes part of it (the "
                        "mean), and measured here that became a darkening of every frame, clean ones too; ssim-l1 "
                        "(0.84 x (1 - SSIM) + 0.16 x L1) judges an error against the local contrast, so a faint "
                        "streak over a flat scene counts; band: the squared error below a 3 px blur (streaks, "
                        "drizzle) and L1 above it (the frame's brightness), so doubt takes part of a faint line but "
                        "shifts no frame (docs/levers.md) (default: %(default)s)")
    p.add_argument("--teacher", default=None,
                   help="a checkpoint (or drn_base / drn_edge) whose output the model also learns to match: "
                        "distillation, for fine-tuning a model drn-prune cut from it; half the loss is the distance "
                        "to the teacher's output (default: off)")
    p.add_argument("--darken-weight", type=float, default=d.darken_weight,
                   help="how much more a pixel counts where the output is darker than the clean frame: the "
                        "counterweight to --rain-weight, which alone teaches the model to darken the scene under "
                        "rain; 1 is the plain L1 (default: %(default)s)")
    threads_option(p, "torch")
    p.add_argument("--no-progress", action="store_true", help="no progress bar (default: shown)")
    return p


@friendly_errors
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    # lazy: keeps `--help` and argument errors instant; this loads OpenCV, torch
    from drn_edge.train.loop import TrainConfig, default_init, default_lr, train

    try:
        weights = tuple(float(w) for w in args.weights.split(",")) if args.weights else ()
    except ValueError:
        raise DrnEdgeError(f"--weights must be comma-separated numbers, got {args.weights!r}") from None
    init, note = default_init(args.init, args.model, bool(args.clean or args.pairs), args.resume)
    if note:
        print(note)
    cfg = TrainConfig(out=args.out, model=args.model, steps=args.steps, batch=args.batch, crop=args.crop,
                      lr=default_lr(args.lr, init, args.resume),
                      val_every=args.val_every, save_every=args.save_every, keep_every=args.keep_every,
                      seed=args.seed, resume=args.resume,
                      overwrite=args.overwrite, init=init, teacher=args.teacher, warmup=args.warmup, val_side=args.val_side,
                      clean=tuple(args.clean), pairs=tuple(args.pairs),
                      weights=weights, no_default_data=args.no_default_data, val_pairs=tuple(args.val_pairs),
                      val_road=tuple(args.val_road), val_real=args.val_real, haze=args.haze,
                      max_minutes=args.minutes, data_workers=args.data_workers, precision=args.precision, compile=args.compile,
                      val_backend=args.val_backend, faint_boost=args.faint_boost,
                      rain_weight=args.rain_weight, darken_weight=args.darken_weight,
                      loss=args.loss, video_look=args.video_look, dead_leaves=args.dead_leaves,
                      leaf_textures=args.leaf_textures, rain_mix=args.rain_mix)
    # lazy: keeps `--help` and argument errors instant; this loads torch
    from drn_edge.model.drn import set_torch_threads

    set_torch_threads(args.threads)
    path = train(cfg, progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"checkpoint: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
