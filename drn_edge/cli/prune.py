"""drn-prune: structured pruning of a checkpoint (coupled pool/unpool groups), written as a new checkpoint.

Fine-tune the result with `drn-train --init PRUNED --out DIR`: pruning alone costs quality.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from drn_edge.artifacts import resolve_checkpoint
from drn_edge.cli import friendly_errors, threads_option
from drn_edge.errors import DrnEdgeError
from drn_edge.outputs import plan_outputs


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="drn-prune", description=(
        "Remove a fraction of every layer's channels (pool and unpool kept coupled) and write the smaller model. "
        "Example: drn-prune --ratio 0.45 --round-to 2 --out runs/edge/pruned.safetensors"))
    p.add_argument("--checkpoint", help="checkpoint to prune, or drn_base / drn_edge (default: drn_base)")
    p.add_argument("--ratio", type=float, required=True, help="fraction of channels to remove, in (0, 1) (required)")
    p.add_argument("--round-to", type=int, default=8,
                   help="kept channel counts are multiples of this (8 suits TensorRT kernels; 2 or 4 reach smaller "
                        "models) (default: %(default)s)")
    p.add_argument("--out", required=True, help="the pruned checkpoint (.safetensors) to write (required)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists (default: off)")
    threads_option(p, "torch")
    return p


@friendly_errors
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    # lazy: keeps `--help` and argument errors instant; this loads torch
    from drn_edge.model.checkpoint import load_model, save_checkpoint
    from drn_edge.model.prune import prune

    if not 1 <= args.round_to <= 64:
        raise DrnEdgeError(f"--round-to must be between 1 and 64, got {args.round_to}")
    out = Path(args.out)
    if out.suffix != ".safetensors":
        raise DrnEdgeError(f"--out must end in .safetensors, got '{out}'")

    plan_outputs({"--out": out}, files=[resolve_checkpoint(args.checkpoint)], replace_existing=args.overwrite)
    # lazy: keeps `--help` and argument errors instant; this loads torch
    from drn_edge.model.drn import set_torch_threads

    set_torch_threads(args.threads)
    model = load_model(args.checkpoint)
    pruned, report = prune(model, args.ratio, round_to=args.round_to)
    save_checkpoint(pruned, out, {"pruned_from": args.checkpoint or "shipped", "prune": report.as_dict(),
                                  "round_to": args.round_to})
    removed = 1 - report.params_after / report.params_before
    print(f"asked to remove {args.ratio:.0%} of channels (kept counts rounded up to multiples of {args.round_to}): "
          f"removed {removed:.1%} of the parameters, {report.params_before:,} -> {report.params_after:,}; GMAC per "
          f"1280x720 frame {report.macs_720p_before / 1e9:.1f} -> {report.macs_720p_after / 1e9:.1f}")
    if removed < args.ratio / 2:
        print(f"note: the layers are too narrow for --round-to {args.round_to} to remove {args.ratio:.0%}; a smaller "
              "--round-to (2 or 1) gets closer", file=sys.stderr)
    print(f"wrote {out}; fine-tune it: drn-train --init {out} --out runs/pruned --steps 1500 --lr 5e-4")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
