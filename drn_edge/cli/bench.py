"""drn-bench: how fast, how steady, and what was lost: three jobs, one subcommand each.

  drn-bench [frames] --engine E ...   latency, throughput, fidelity drop (and the detection check) per engine
  drn-bench video CLIP --engine E     moving rain over a clean clip: per-frame fidelity and flicker
  drn-bench streams --engine E        N cameras into one engine through StreamRunner

`frames` is the default, so `drn-bench --engine drn.plan` keeps working. The old mode switches
`--video CLIP` and `--streams N` are translated to the subcommands for one release, with a note.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from drn_edge.bench.requests import BenchRequest, StreamBenchRequest, VideoBenchRequest
from drn_edge.cli import add_detection_options, friendly_errors, load_detector, parse_size, size_option, threads_option
from drn_edge.errors import BenchError, DrnEdgeError
from drn_edge.outputs import plan_outputs, write_bytes, write_json
from drn_edge.rain import LEVEL_NAMES
from drn_edge.runtime.frame_policy import OVERLOAD_POLICIES

COMMANDS = ("frames", "video", "streams")


def _engine_options(p: argparse.ArgumentParser) -> None:
    # lazy: keeps `--help` and argument errors instant; this loads numpy
    from drn_edge.runtime.engine import BACKENDS

    p.add_argument("--engine", action="append", default=[], help="engine file (.onnx or .plan); repeat to compare "
                   "(default: none)")
    p.add_argument("--compare", help="precisions to compare from --export-dir, e.g. fp32,fp16,int8 (default: none)")
    p.add_argument("--export-dir", default="drn_export", help="where --compare finds drn.onnx, drn.fp16.onnx, ... "
                   "(default: %(default)s)")
    p.add_argument("--backend", default="auto", choices=BACKENDS, help="inference backend (default: %(default)s)")
    size_option(p, "frame size HxW for dynamic engines (default: 360x640; fixed-size engines use their own)")
    threads_option(p, "torch and ONNX Runtime")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (default: shown)")
    p.add_argument("--json", help="write the report as JSON, schema drn_edge/bench/schema.json (default: none)")
    p.add_argument("--markdown", help="write the tables as Markdown (default: none)")


def _reference_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-pytorch", action="store_true", help="no PyTorch eager baseline row (default: included)")
    p.add_argument("--checkpoint", help="FP32 reference checkpoint (default: found from the engine's sidecars, else "
                   "shipped)")


def build_parser() -> argparse.ArgumentParser:
    # lazy: keeps `--help` and argument errors instant; this loads OpenCV
    from drn_edge.rain.family import GENERATORS

    # No abbreviated options: the old-switch translation below must see every flag spelled out.
    p = argparse.ArgumentParser(prog="drn-bench", allow_abbrev=False, description=(
        "Benchmarks of exported engines, side by side in one process. frames (the default: drn-bench --engine E is "
        "drn-bench frames --engine E): latency and fidelity drop; video: temporal stability on a clip; streams: "
        "several cameras into one engine. drn-bench SUBCOMMAND -h lists its options. "
        "Example: drn-bench --compare fp32,fp16,int8 --export-dir drn_export --markdown bench.md --plot latency.png"))
    sub = p.add_subparsers(dest="command", metavar="{frames,video,streams}")

    f = sub.add_parser("frames", allow_abbrev=False, help="latency (end-to-end and engine-only), batch throughput and fidelity drop "
                       "(the default)", description="Latency and fidelity drop of engines, side by side.")
    _engine_options(f)
    _reference_options(f)
    f.add_argument("--batch", type=int, default=1, help="also measure throughput on batches of N frames "
                   "(default: %(default)s)")
    f.add_argument("--frames", type=int, default=30, help="timed frames per engine (default: %(default)s)")
    f.add_argument("--warmup", type=int, default=5, help="warm-up frames (default: %(default)s)")
    f.add_argument("--warmup-seconds", type=float, default=1.0, help="and at least this many seconds "
                   "(default: %(default)s)")
    f.add_argument("--fps", type=float, default=30.0, help="frame deadline for counting misses, 1000/fps ms; 0: no "
                   "deadline (default: %(default)s)")
    f.add_argument("--eval", help="folder of CLEAN images, rained on the fly at low/medium/high, e.g. "
                   "../shared/data/road/permissive/evocargo (default: scikit-image's held-out photos)")
    f.add_argument("--pairs", action="append", default=[], help="paired rainy/clean folder (repeatable), e.g. "
                   "../shared/eval/rain200h (default: none)")
    f.add_argument("--no-fidelity", action="store_true", help="latency only (default: fidelity measured)")
    f.add_argument("--plot", help="write a latency distribution plot, PNG (default: none)")
    f.add_argument("--grid", help="write an image grid rainy | engines | clean, from --pairs or --eval frames when "
                   "given (default: none)")
    add_detection_options(f, "the --eval folder, else the held-out photos")

    v = sub.add_parser("video", allow_abbrev=False, help="moving rain over a clean clip: per-frame PSNR/SSIM and flicker per engine",
                       description="Temporal stability: the project's rain, moving, over a clean clip or live source.")
    v.add_argument("clip", help="clean video file, or a live source: camera index, /dev/videoN, rtsp:// or http(s):// "
                   "URL, GStreamer pipeline (required)")
    _engine_options(v)
    _reference_options(v)
    v.add_argument("--frames", type=int, default=60, help="frames of the clip to use (default: %(default)s)")
    v.add_argument("--rain", default="medium", choices=LEVEL_NAMES, help="rain level (default: %(default)s)")
    v.add_argument("--rain-generator", default="streaks", choices=GENERATORS,
                   help="rain family member; 'particles' was never trained on (default: %(default)s)")
    v.add_argument("--seed", type=int, default=0, help="rain seed (default: %(default)s)")
    v.add_argument("--plot", help="write per-frame PSNR and flicker over time, PNG (default: none)")
    v.add_argument("--grid", help="write the first frames rainy | engines | clean, an image (default: none)")
    v.add_argument("--side-by-side", help="write rainy | engines | clean as a video, .mp4 (default: none)")

    s = sub.add_parser("streams", allow_abbrev=False, help="N free-running cameras into one engine through StreamRunner",
                       description="Several cameras at --fps each for --seconds into one engine (StreamRunner).")
    _engine_options(s)
    s.add_argument("--cameras", type=int, default=4, help="number of camera streams (default: %(default)s)")
    s.add_argument("--fps", type=float, default=30.0, help="each camera's frame rate (default: %(default)s)")
    s.add_argument("--seconds", type=float, default=10.0, help="how long the cameras run (default: %(default)s)")
    s.add_argument("--policy", default="drop-oldest", choices=OVERLOAD_POLICIES,
                   help="what a full stream queue does with its oldest frame (default: %(default)s)")
    s.add_argument("--queue", type=int, default=2, help="frames waiting per stream (default: %(default)s)")
    s.add_argument("--plot", help="write latency over time per camera, PNG (default: none)")
    return p


def translate_legacy(argv: list[str]) -> list[str]:
    """The subcommand form of an argv: `frames` when none is named; the old --video/--streams switches rewritten
    (with a note on stderr), for one release."""
    if argv and argv[0] in COMMANDS + ("-h", "--help"):
        return argv
    _refuse_late_subcommand(argv)
    rest = list(argv)
    values = {flag: _take(rest, flag) for flag in ("--video", "--streams", "--video-frames")}
    if values["--video"] is not None and values["--streams"] is not None:
        raise DrnEdgeError("--video and --streams are separate benchmarks; run them one at a time "
                           "(drn-bench video CLIP ..., drn-bench streams --cameras N ...)")
    if values["--video"] is not None:
        new = ["video", values["--video"]] + (["--frames", values["--video-frames"]] if values["--video-frames"] else [])
    elif values["--streams"] is not None:
        new = ["streams", "--cameras", values["--streams"]]
    elif values["--video-frames"] is not None:
        raise DrnEdgeError("--video-frames belongs to the video benchmark: drn-bench video CLIP --frames N")
    else:
        return ["frames"] + rest
    if new[0] == "video" and any(a == "--frames" or a.startswith("--frames=") for a in rest):
        raise DrnEdgeError("with the old --video switch, --frames meant the frames benchmark's timed frames; "
                           "run drn-bench video CLIP --frames N (the clip's frames)")
    new += rest
    old = next(flag for flag in ("--video", "--streams") if values[flag] is not None)
    print(f"note: drn-bench {old} is deprecated and will be removed in the next release; run: drn-bench "
          f"{' '.join(new)}", file=sys.stderr)
    return new


def _refuse_late_subcommand(argv: list[str]) -> None:
    """`drn-bench --engine x video CLIP` would run the frames benchmark and then choke on 'video': say what to do."""
    if not any(arg in COMMANDS for arg in argv[1:]):
        return
    switches = {flag for action in build_parser()._subparsers._group_actions[0].choices["frames"]._actions
                if action.nargs == 0 for flag in action.option_strings}
    for i, arg in enumerate(argv[1:], start=1):
        before = argv[i - 1]
        takes_value = before.startswith("-") and "=" not in before and before not in switches
        if arg in COMMANDS and not takes_value:
            raise DrnEdgeError(f"the subcommand comes first: drn-bench {arg} {' '.join(argv[:i] + argv[i + 1:])} "
                               f"(options follow it; see drn-bench {arg} --help)")


def _take(argv: list[str], flag: str) -> str | None:
    """Remove `flag VALUE` or `flag=VALUE` from argv and return VALUE (None: absent)."""
    for i, arg in enumerate(argv):
        if arg == flag and i + 1 < len(argv):
            value = argv[i + 1]
            del argv[i:i + 2]
            return value
        if arg.startswith(flag + "="):
            del argv[i]
            return arg.split("=", 1)[1]
    return None


def _engines(args) -> list[str]:
    """--engine files, then each --compare precision found in --export-dir."""
    # lazy: keeps `--help` and argument errors instant; this loads numpy
    from drn_edge.bench.candidates import compare_engines

    engines = list(args.engine) + compare_engines(args.export_dir, args.compare, args.backend)
    seen: dict[str, str] = {}
    for engine in engines:  # two rows of one file would carry one label and look like two results
        key = os.path.realpath(engine)
        if key in seen:
            raise DrnEdgeError(f"engine '{engine}' is named twice (--engine and --compare name the same file, or "
                               "one file under two names); give each engine once")
        seen[key] = engine
    return engines


def _plan_outputs(args, engines: list[str]) -> None:
    """Every report path checked before any measuring: none replaces an input, each is writable."""
    flags = ("--json", "--markdown", "--plot", "--grid", "--side-by-side", "--detect-grid", "--detect-markdown")
    outputs = {flag: getattr(args, flag[2:].replace("-", "_"), None) for flag in flags}
    inputs = [*engines, getattr(args, "checkpoint", None), getattr(args, "clip", None), getattr(args, "detector", None),
              getattr(args, "detector_classes", None), getattr(args, "labels", None)]
    folders = [getattr(args, "eval", None), *getattr(args, "pairs", []), *getattr(args, "detect_frames", [])]
    # lazy: keeps `--help` and argument errors instant; this loads numpy
    from drn_edge.imageio import WRITABLE_IMAGE_SUFFIXES, WRITABLE_VIDEO_SUFFIXES

    plan_outputs(outputs, files=inputs, folders=folders,
                 suffixes={"--plot": (".png",), "--grid": WRITABLE_IMAGE_SUFFIXES,
                           "--detect-grid": WRITABLE_IMAGE_SUFFIXES, "--side-by-side": WRITABLE_VIDEO_SUFFIXES})
    if getattr(args, "plot", None):
        # lazy: keeps `--help` and argument errors instant; this loads numpy
        from drn_edge.bench.report import pyplot

        pyplot()  # a missing matplotlib is reported before minutes of measuring, not after


@friendly_errors
def main(argv=None) -> int:
    argv = translate_legacy(list(sys.argv[1:] if argv is None else argv))
    args = build_parser().parse_args(argv)
    engines = _engines(args)
    h, w = parse_size(args, "frame") or (360, 640)
    _plan_outputs(args, engines)
    return {"frames": _frames, "video": _video, "streams": _streams}[args.command](args, engines, h, w)


def _frames(args, engines: list[str], h: int, w: int) -> int:
    # lazy: keeps `--help` and argument errors instant; this loads numpy
    from drn_edge.bench.frame_bench import run_bench
    from drn_edge.bench.report import format_table, image_grid, plot_latency, to_markdown

    req = BenchRequest(engines=tuple(engines), backend=args.backend, height=h, width=w, threads=args.threads,
                       batch=args.batch, frames=args.frames, warmup=args.warmup, warmup_seconds=args.warmup_seconds,
                       fps=args.fps or None, pytorch_baseline=not args.no_pytorch, checkpoint=args.checkpoint,
                       eval_dir=args.eval, pairs=tuple(args.pairs), fidelity=not args.no_fidelity,
                       progress=not args.no_progress, detector=load_detector(args) if args.detector else None,
                       detect_frames=tuple(args.detect_frames), detect_max_frames=args.detect_max_frames,
                       labels=args.labels)
    detector = req.detector
    if req.height % 8 or req.width % 8:
        print("note: frames are reflect-padded to a multiple of 8 for the engine and cropped back")
    result = run_bench(req)
    report = result.report
    print(format_table(report))
    _write_reports(args, report, to_markdown)
    if args.plot:
        plot_latency(report, args.plot)
    if args.grid:
        image_grid(result, args.grid)
    if detector is not None:
        _detection_outputs(args, result, detector, engines)
    return 0


def _detection_outputs(args, result, detector, engines: list[str]) -> None:
    # lazy: keeps `--help` and argument errors instant; this loads numpy
    from drn_edge.detection.check import detection_markdown, format_detection

    report = result.report["detection"]
    labels = [r["label"] for r in result.report["rows"]]
    print()
    print(format_detection(report, labels))
    if args.detect_markdown:
        write_bytes(args.detect_markdown, detection_markdown(report, labels).encode())
    if args.detect_grid:
        # lazy: keeps `--help` and argument errors instant; this loads numpy
        from drn_edge.detection.draw import detection_grid

        medium = [f for f in result.detection_frames if f.group == "medium"]
        engine = engines[-1] if engines else None  # the last engine, from --engine or --compare alike
        if engine is None:
            print(f"note: --detect-grid needs an engine (--engine or --compare); {args.detect_grid} was not written",
                  file=sys.stderr)
            return
        # lazy: keeps `--help` and argument errors instant; this loads numpy
        from drn_edge.runtime import DerainEngine

        label = next((r["label"] for r in result.report["rows"] if r.get("path") == str(engine)), Path(engine).name)
        with DerainEngine(engine, color="rgb", threads=args.threads) as e:
            detection_grid(args.detect_grid, detector, medium, e.derain_rgb, label, detector.class_names)
        print(f"wrote {args.detect_grid}: rainy | {label} | clean with boxes, medium rain")


def _video(args, engines: list[str], h: int, w: int) -> int:
    # lazy: keeps `--help` and argument errors instant; this loads numpy
    from drn_edge.bench.video import first_frames_image, format_video_table, plot_video, run_video_bench, video_markdown, write_side_by_side

    req = VideoBenchRequest(clip=args.clip, engines=tuple(engines), backend=args.backend, height=h, width=w,
                            frames=args.frames, level=args.rain, generator=args.rain_generator, seed=args.seed,
                            threads=args.threads, pytorch_baseline=not args.no_pytorch, checkpoint=args.checkpoint,
                            progress=not args.no_progress)
    result = run_video_bench(req)
    print(format_video_table(result.report))
    _write_reports(args, result.report, video_markdown)
    if args.plot:
        plot_video(result.report, args.plot)
    if args.grid:
        first_frames_image(result, args.grid)
    if args.side_by_side:
        write_side_by_side(result, args.side_by_side)
    return 0


def _streams(args, engines: list[str], h: int, w: int) -> int:
    # lazy: keeps `--help` and argument errors instant; this loads numpy
    from drn_edge.bench.streams import format_stream_table, plot_streams, run_stream_bench, stream_markdown

    if len(engines) != 1:
        raise BenchError(f"drn-bench streams measures one engine at a time; give exactly one --engine "
                         f"(got {len(engines)})")
    report = run_stream_bench(StreamBenchRequest(engine=engines[0], cameras=args.cameras, fps=args.fps,
                                                 seconds=args.seconds, height=h, width=w, backend=args.backend,
                                                 threads=args.threads, policy=args.policy, queue_size=args.queue,
                                                 progress=not args.no_progress))
    print(format_stream_table(report))
    if args.plot:
        plot_streams(report, args.plot)
    report.pop("samples")
    _write_reports(args, report, stream_markdown)
    return 0


def _write_reports(args, report: dict, markdown) -> None:
    """--json and --markdown, the same for every kind of bench."""
    if args.json:
        write_json(args.json, report)
    if args.markdown:
        write_bytes(args.markdown, markdown(report).encode())


if __name__ == "__main__":
    raise SystemExit(main())
