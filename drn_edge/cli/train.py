"""drn-train: train a DRN on synthetic rain over the bundled photos (CPU, or GPUs under torchrun)."""
from __future__ import annotations

import argparse
import os

from . import friendly_errors


def build_parser() -> argparse.ArgumentParser:
    from ..model import MODEL_FACTORIES
    from ..train import TrainConfig

    d = TrainConfig()
    p = argparse.ArgumentParser(
        prog="drn-train",
        description="Train a deraining network. Multi-process: torchrun --nproc_per_node N -m drn_edge.cli.train ...",
    )
    p.add_argument("--out", default=d.out, help="output folder; OUT/last.safetensors is the checkpoint (default: %(default)s)")
    p.add_argument("--model", default=d.model, choices=sorted(MODEL_FACTORIES), help="architecture (default: %(default)s)")
    p.add_argument("--init", default=None, help="start from this checkpoint's weights and config (e.g. a pruned model)")
    p.add_argument("--steps", type=int, default=d.steps, help="total optimizer steps (default: %(default)s)")
    p.add_argument("--batch", type=int, default=d.batch, help="crops per step and process (default: %(default)s)")
    p.add_argument("--crop", type=int, default=d.crop, help="crop size, a multiple of 8 (default: %(default)s)")
    p.add_argument("--lr", type=float, default=d.lr, help="peak learning rate, cosine decay (default: %(default)s)")
    p.add_argument("--val-every", type=int, default=d.val_every, help="validate on held-out photos every N steps")
    p.add_argument("--save-every", type=int, default=d.save_every, help="write OUT/last.safetensors every N steps")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.safetensors if it exists")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


@friendly_errors
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from ..errors import DrnEdgeError
    from ..train import TrainConfig, train

    if args.crop % 8 or args.crop < 16:
        raise DrnEdgeError(f"--crop must be a multiple of 8 and at least 16, got {args.crop}")
    if args.steps < 1 or args.batch < 1:
        raise DrnEdgeError("--steps and --batch must be positive")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    cfg = TrainConfig(out=args.out, model=args.model, steps=args.steps, batch=args.batch, crop=args.crop, lr=args.lr,
                      val_every=args.val_every, save_every=args.save_every, seed=args.seed, resume=args.resume,
                      init=args.init)
    path = train(cfg, progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"checkpoint: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
