"""drn-eval: quality of a checkpoint on held-out photos (our rain, three levels) and on image pairs (other rain)."""
from __future__ import annotations

import argparse
import json

from . import friendly_errors


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="drn-eval", description=(
        "PSNR/SSIM/UQI of rainy-vs-clean and derained-vs-clean on the held-out photos at low/medium/high rain "
        "(fixed seeds, so numbers reproduce), and optionally on a folder with input/ and target/ pairs."))
    p.add_argument("--checkpoint", help="a .safetensors checkpoint (default: the shipped model)")
    p.add_argument("--pairs", action="append", default=[], help="folder with input/ and target/ images (repeatable), "
                   "e.g. ../shared/eval/rain200h")
    p.add_argument("--json", help="also write the results to this JSON file")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    return p


def _row(label: str, res: dict) -> str:
    r, d = res["rainy"], res["derained"]
    return (f"{label:<22}{r['psnr']:>8.2f}{d['psnr']:>8.2f}{d['psnr'] - r['psnr']:>+8.2f}"
            f"{r['ssim']:>8.3f}{d['ssim']:>8.3f}{r['uqi']:>8.3f}{d['uqi']:>8.3f}")


@friendly_errors
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    import torch

    from .._atomic import write_json
    from ..checkpoint import load_model
    from ..evaluate import evaluate_heldout, evaluate_pairs, pairs_from_dir, torch_derain

    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_model(args.checkpoint)
    derain = torch_derain(model)
    results = {"checkpoint": args.checkpoint or "shipped", "heldout": evaluate_heldout(derain)}
    for folder in args.pairs:
        results.setdefault("pairs", {})[folder] = evaluate_pairs(derain, pairs_from_dir(folder))
    print(f"{'set':<22}{'PSNR in':>8}{'out':>8}{'gain':>8}{'SSIM in':>8}{'out':>8}{'UQI in':>8}{'out':>8}")
    for level, res in results["heldout"].items():
        print(_row(f"held-out {level}", res))
    for folder, res in results.get("pairs", {}).items():
        print(_row(folder[-22:], res))
    if args.json:
        write_json(args.json, json.loads(json.dumps(results, default=float)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
