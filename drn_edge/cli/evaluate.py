"""drn-eval: the evaluation suite for a checkpoint or an exported artifact (same frames, same seeds every run)."""
from __future__ import annotations

import argparse

from drn_edge.checks import parse_hxw
from drn_edge.cli import CHECKPOINT_HELP, add_detection_options, friendly_errors, load_detector, threads_option
from drn_edge.errors import DrnEdgeError
from drn_edge.outputs import plan_outputs, write_bytes, write_json


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="drn-eval", description=(
        "PSNR/SSIM/UQI of rainy-vs-clean and derained-vs-clean: held-out frames (scikit-image's held-out "
        "photos, plus --road folders of clean road frames) at 640x360 and 1280x720 under low/medium/high rain; every rain generator of the "
        "family at medium rain and the largest --sizes (including 'particles', never trained on); paired sets "
        "(--pairs) at native size; "
        "on real rainy frames (--real), how much the model changes them and the share of that which is removal, with "
        "a rainy|derained grid; then the balanced score (mean gain over the largest size's "
        "levels and every --pairs set, a set below its rainy input counted twice). Fixed seeds: numbers reproduce."))
    src = p.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", help=CHECKPOINT_HELP)
    src.add_argument("--engine", help="an exported artifact (.onnx, or .plan on a GPU machine) instead of a checkpoint "
                     "(default: none)")
    p.add_argument("--road", action="append", default=[], metavar="DIR",
                   help="clean held-out road frames to rain on (repeatable), e.g. ../shared/data/road/permissive/evocargo (default: none)")
    p.add_argument("--clean-frames", action="append", default=[], metavar="DIR",
                   help="more clean frames for the clean-frame table only (at most 8 per folder, evenly spaced), e.g. "
                        "../shared/data/road/research_only/camvid; repeatable (default: none)")
    p.add_argument("--pairs", action="append", default=[], metavar="DIR",
                   help="paired rainy/clean set (repeatable), e.g. ../shared/eval/rain200h (default: none)")
    p.add_argument("--real", metavar="DIR", help="real rainy frames without ground truth: print the mean change (grey "
                   "levels) and the share of it that is removal, and write a rainy|derained grid, e.g. "
                   "../shared/data/road/rainy_real/nturain_rb2 (default: none)")
    p.add_argument("--grid", default="drn_eval_real.jpg", help="where --real writes its grid (default: %(default)s)")
    p.add_argument("--sizes", default="360x640,720x1280", help="HxW sizes of the held-out tables (default: %(default)s)")
    p.add_argument("--no-generators", action="store_true", help="skip the per-generator table, the slowest part (default: included)")
    add_detection_options(p, "the --road folders, else the held-out photos")
    p.add_argument("--json", help="also write the results to this JSON file (default: none)")
    threads_option(p, "torch and ONNX Runtime")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (default: shown)")
    return p


def parse_sizes(text: str, flag: str = "--sizes") -> list[tuple[int, int]]:
    if not text.strip():
        raise DrnEdgeError(f"{flag} takes HxW sizes separated by commas (e.g. 360x640,720x1280), got {text!r}")
    return [parse_hxw(part, flag) for part in text.split(",")]


def format_tables(tables: dict) -> str:
    lines = []
    for title, table in tables.items():
        if title.startswith("clean "):
            lines += ["", f"{title} (no rain: output vs its own input, higher is better)",
                      f"  {'set':<30}{'n':>4}{'PSNR mean':>11}{'worst':>8}{'SSIM':>8}"]
            lines += [f"  {g[-30:]:<30}{r['n']:>4}{r['psnr']:>11.2f}{r['psnr_min']:>8.2f}{r['ssim']:>8.3f}"
                      for g, r in table.items()]
            continue
        lines += ["", title, f"  {'set':<22}{'n':>4}{'PSNR in':>9}{'out':>8}{'gain':>8}{'SSIM in':>9}{'out':>7}"
                  f"{'UQI in':>8}{'out':>7}"]
        for group, r in table.items():
            lines.append(f"  {group[-22:]:<22}{r['n']:>4}{r['rainy_psnr']:>9.2f}{r['psnr']:>8.2f}"
                         f"{r['gain_db']:>+8.2f}{r['rainy_ssim']:>9.3f}{r['ssim']:>7.3f}{r['rainy_uqi']:>8.3f}{r['uqi']:>7.3f}")
    return "\n".join(lines[1:])


@friendly_errors
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    # lazy: keeps `--help` and argument errors instant; this loads OpenCV
    from drn_edge.evaluation.fidelity import evaluation_suite, suite_score
    from drn_edge.evaluation.real_rain import format_real_rain, real_rain_change, real_rain_grid

    sizes = parse_sizes(args.sizes)

    plan_outputs({"--json": args.json, "--grid": args.grid if args.real else None,
                  "--detect-grid": args.detect_grid, "--detect-markdown": args.detect_markdown},
                 files=[args.engine, args.checkpoint, args.detector, args.detector_classes, args.labels],
                 folders=[*args.road, *args.pairs, args.real, *args.detect_frames, *args.clean_frames])
    detector = load_detector(args) if args.detector else None  # a bad detector fails before any derain work
    engine = None
    if args.engine:
        # lazy: keeps `--help` and argument errors instant; this loads numpy
        from drn_edge.runtime import DerainEngine

        engine = DerainEngine(args.engine, color="rgb", threads=args.threads)
        derain, label = engine.derain_rgb, args.engine
    else:
        # lazy: keeps `--help` and argument errors instant; this loads OpenCV, torch
        from drn_edge.evaluation.fidelity import torch_derain
        from drn_edge.model.checkpoint import load_model
        from drn_edge.model.drn import set_torch_threads

        set_torch_threads(args.threads)
        derain, label = torch_derain(load_model(args.checkpoint)), args.checkpoint or "shipped"
    try:
        tables = evaluation_suite(derain, sizes, args.road, args.pairs, generators=False if args.no_generators else None,
                                  generator_size=max(sizes, key=lambda s: s[0] * s[1]), progress=not args.no_progress,
                                  clean_only_dirs=args.clean_frames)
        print(f"model: {label}")
        print(format_tables(tables))
        score, gains = suite_score(tables)
        worst = min(gains, key=gains.get)
        print(f"\nbalanced score {score:+.2f} dB over {len(gains)} sets (worst: {worst} {gains[worst]:+.2f} dB)")
        tables["balanced score"] = {"score": score, "gains": gains}
        if args.detector:
            tables["detection"] = _detection(args, detector, derain, label, max(sizes, key=lambda s: s[0] * s[1]))
        if args.real:
            tables["real rain"] = real_rain_change(derain, args.real)
            print("\n" + format_real_rain(args.real, tables["real rain"]))
            n = real_rain_grid(derain, args.real, args.grid)
            print(f"wrote {args.grid}: {n} real rainy frames, rainy | derained (no ground truth: look, do not score)")
    finally:
        if engine is not None:
            engine.close()
    if args.json:
        write_json(args.json, {"model": label, "tables": tables})
    return 0


def _detection(args, det, derain, label: str, size: tuple[int, int]) -> dict:
    """drn-eval --detector: the check on --detect-frames (or --road, or the held-out photos) at `size`."""
    # lazy: keeps `--help` and argument errors instant; this loads numpy
    from drn_edge.detection.check import detection_check, detection_frames, detection_markdown, format_detection

    folders = args.detect_frames or args.road
    frames = detection_frames(folders, None if args.labels else size, args.detect_max_frames)
    labels = None
    if args.labels:
        # lazy: keeps `--help` and argument errors instant; this loads numpy
        from drn_edge.detection.labels import load_labels

        labels = load_labels(args.labels, {f.name: f.clean.shape[:2] for f in frames})  # in the frames' own pixels
    report = detection_check(det, frames, {label: derain}, labels=labels, class_names=det.class_names,
                             progress=not args.no_progress)
    print()
    print(format_detection(report, [label]))
    if args.detect_markdown:
        write_bytes(args.detect_markdown, detection_markdown(report, [label]).encode())
    if args.detect_grid:
        # lazy: keeps `--help` and argument errors instant; this loads numpy
        from drn_edge.detection.draw import detection_grid

        medium = [f for f in frames if f.group == "medium"]
        n = detection_grid(args.detect_grid, det, medium, derain, label, det.class_names)
        print(f"wrote {args.detect_grid}: {n} frames at medium rain, rainy | derained | clean with boxes")
    return report


if __name__ == "__main__":
    raise SystemExit(main())
