"""drn-bench: how fast, how steady, and what was lost, for one or several engines in one run."""
from __future__ import annotations

import argparse
from pathlib import Path

from drn_edge.cli import add_detection_options, friendly_errors, load_detector, parse_size, size_option


def build_parser() -> argparse.ArgumentParser:
    from drn_edge.rain.family import GENERATORS
    from drn_edge.runtime.engine import BACKENDS
    from drn_edge.runtime.frame_policy import OVERLOAD_POLICIES

    p = argparse.ArgumentParser(prog="drn-bench", description=(
        "Latency (end-to-end and engine-only) and fidelity drop of engines, side by side in one process. "
        "Example: drn-bench --compare fp32,fp16,int8 --export-dir drn_export --markdown bench.md --plot latency.png"))
    p.add_argument("--engine", action="append", default=[], help="engine file (.onnx or .plan); repeat to compare "
                   "(default: none)")
    p.add_argument("--compare", help="precisions to compare from --export-dir, e.g. fp32,fp16,int8 (default: none)")
    p.add_argument("--export-dir", default="drn_export", help="where --compare finds drn.onnx, drn.fp16.onnx, ... (default: %(default)s)")
    p.add_argument("--backend", default="auto", choices=BACKENDS, help="inference backend (default: %(default)s)")
    size_option(p, "frame size HxW for dynamic engines (default: 360x640; fixed-size engines use their own)")
    p.add_argument("--threads", type=int, help="torch and ONNX Runtime CPU threads (default: the libraries' choice)")
    p.add_argument("--batch", type=int, default=1, help="also measure throughput on batches of N frames (default: %(default)s)")
    p.add_argument("--frames", type=int, default=30, help="timed frames per engine (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=5, help="warm-up frames (default: %(default)s)")
    p.add_argument("--warmup-seconds", type=float, default=1.0, help="and at least this many seconds (default: %(default)s)")
    p.add_argument("--fps", type=float, default=30.0, help="deadline for miss counting; 0 to disable (default: %(default)s)")
    p.add_argument("--no-pytorch", action="store_true", help="no PyTorch eager baseline row (default: included)")
    p.add_argument("--checkpoint", help="FP32 reference checkpoint (default: found from the engine's sidecars, else shipped)")
    p.add_argument("--eval", help="folder of CLEAN images, rained on the fly at low/medium/high, e.g. "
                   "../shared/data/road/permissive/evocargo (default: scikit-image's held-out photos)")
    p.add_argument("--pairs", action="append", default=[], help="paired rainy/clean folder (repeatable), e.g. "
                   "../shared/eval/rain200h (default: none)")
    p.add_argument("--no-fidelity", action="store_true", help="latency only (default: fidelity measured)")
    p.add_argument("--json", help="write the report as JSON, schema drn_edge/bench/schema.json (default: none)")
    p.add_argument("--markdown", help="write the tables as Markdown (default: none)")
    p.add_argument("--plot", help="write a latency distribution plot, PNG (default: none)")
    p.add_argument("--grid", help="write an image grid rainy | engines | clean, from --pairs or --eval frames when "
                   "given (default: none)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars (default: shown)")
    add_detection_options(p, "the --eval folder, else the held-out photos")
    v = p.add_argument_group("video (temporal stability)", "drn-bench --video CLEAN_CLIP: moving rain over a clean "
                             "clip, per-frame PSNR/SSIM and flicker per engine; --plot, --grid, --json, --markdown "
                             "then describe the clip")
    v.add_argument("--video", help="clean video clip to rain on and derain (default: none)")
    v.add_argument("--video-frames", type=int, default=60, help="frames of the clip to use (default: %(default)s)")
    v.add_argument("--rain", default="medium", choices=("low", "medium", "high"), help="rain level (default: %(default)s)")
    v.add_argument("--rain-generator", default="streaks", choices=GENERATORS,
                   help="rain family member; 'particles' was never trained on (default: %(default)s)")
    v.add_argument("--seed", type=int, default=0, help="rain seed (default: %(default)s)")
    v.add_argument("--side-by-side", help="write rainy | engines | clean as a video, .mp4 (default: none)")
    s = p.add_argument_group("streams (several cameras)", "drn-bench --streams N: N cameras at --fps each for "
                             "--seconds into one engine through the streaming runtime")
    s.add_argument("--streams", type=int, help="number of camera streams (default: none)")
    s.add_argument("--seconds", type=float, default=10.0, help="how long the cameras run (default: %(default)s)")
    s.add_argument("--policy", default="drop-oldest", choices=OVERLOAD_POLICIES,
                   help="what a full stream queue does with its oldest frame (default: %(default)s)")
    s.add_argument("--queue", type=int, default=2, help="frames waiting per stream (default: %(default)s)")
    return p


def _refuse_stale(path: Path, fp32: Path) -> None:
    """An FP16/INT8 artifact or plan must come from the drn.onnx beside it (drn-export flags the others stale)."""
    from drn_edge.outputs import sha256_file
    from drn_edge.errors import DrnEdgeError
    from drn_edge.sidecar import read_sidecar

    if path == fp32 or not fp32.is_file():
        return
    rec = read_sidecar(path, required=False) or {}
    src = rec.get("source", {})
    if src.get("file") == fp32.name and src.get("sha256") != sha256_file(fp32):
        raise DrnEdgeError(f"'{path}' was made from another {fp32.name} (stale); re-run drn-export for this folder")


@friendly_errors
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from drn_edge.outputs import check_writable
    from drn_edge.bench.frames import BenchRequest, run_bench
    from drn_edge.bench.report import format_table, image_grid, plot_latency, to_markdown
    from drn_edge.errors import DrnEdgeError

    engines = list(args.engine)
    if args.compare:
        from drn_edge.artifacts import PRECISIONS, artifact_path

        for prec in args.compare.split(","):
            prec = prec.strip()
            if prec not in PRECISIONS:
                raise DrnEdgeError(f"--compare takes {', '.join(PRECISIONS)}; got {prec!r}")
            plan = artifact_path(args.export_dir, prec, "plan")
            path = plan if plan.is_file() and args.backend in ("auto", "tensorrt") else artifact_path(args.export_dir, prec)
            if not path.is_file():
                raise DrnEdgeError(f"--compare {prec}: '{path}' not found; run drn-export --{prec} --out {args.export_dir} first"
                                   if prec != "fp32" else f"'{path}' not found; run drn-export --out {args.export_dir} first")
            _refuse_stale(path, artifact_path(args.export_dir, "fp32"))
            engines.append(str(path))
    if args.frames < 1:
        raise DrnEdgeError("--frames must be at least 1")
    import math

    if args.fps < 0 or not math.isfinite(args.fps):
        raise DrnEdgeError(f"--fps must be a positive number (or 0 to count no deadline), got {args.fps}")
    if args.batch < 1 or (args.threads is not None and args.threads < 1) or args.warmup < 0:
        raise DrnEdgeError("--batch and --threads must be at least 1, --warmup at least 0")
    from drn_edge.outputs import refuse_overwriting_inputs

    outputs = {"--json": args.json, "--markdown": args.markdown, "--plot": args.plot, "--grid": args.grid,
               "--side-by-side": args.side_by_side, "--detect-grid": args.detect_grid,
               "--detect-markdown": args.detect_markdown}
    refuse_overwriting_inputs(outputs, files=[*engines, args.checkpoint, args.video, args.detector, args.labels],
                              folders=[args.eval, *args.pairs, *args.detect_frames])
    for out in outputs.values():
        if out:
            check_writable(out)
    if args.plot:
        from drn_edge.bench.report import pyplot

        pyplot()  # a missing matplotlib is reported before minutes of measuring, not after
    h, w = parse_size(args, "frame") or (360, 640)
    if args.seed < 0:
        raise DrnEdgeError(f"--seed must be >= 0, got {args.seed}")
    if args.video and args.streams:
        raise DrnEdgeError("--video and --streams are separate benchmarks; run them one at a time")
    if args.side_by_side and not args.video:
        raise DrnEdgeError("--side-by-side writes the --video benchmark's clip; add --video CLEAN_CLIP")
    if (args.video or args.streams) and args.detector:
        raise DrnEdgeError("--detector is a check of the frames benchmark; run it without --video/--streams")
    detector = load_detector(args) if args.detector else None
    if args.video:
        return _video(args, engines, h, w)
    if args.streams is not None:
        return _streams(args, engines, h, w)
    req = BenchRequest(engines=tuple(engines), backend=args.backend, height=h, width=w, threads=args.threads,
                       batch=args.batch,
                       frames=args.frames, warmup=args.warmup, warmup_seconds=args.warmup_seconds,
                       fps=args.fps or None, pytorch_baseline=not args.no_pytorch, checkpoint=args.checkpoint,
                       eval_dir=args.eval, pairs=tuple(args.pairs), fidelity=not args.no_fidelity,
                       progress=not args.no_progress, detector=detector, detect_frames=tuple(args.detect_frames),
                       detect_max_frames=args.detect_max_frames, labels=args.labels)
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
        _detection_outputs(args, result, detector)
    return 0


def _detection_outputs(args, result, detector) -> None:
    from drn_edge.outputs import write_bytes
    from drn_edge.detection.check import detection_markdown, format_detection

    report = result.report["detection"]
    labels = [r["label"] for r in result.report["rows"]]
    print()
    print(format_detection(report, labels))
    if args.detect_markdown:
        write_bytes(args.detect_markdown, detection_markdown(report, labels).encode())
    if args.detect_grid:
        from drn_edge.detection.draw import detection_grid

        medium = [f for f in result.detection_frames if f.group == "medium"]
        engine = args.engine[-1] if args.engine else None
        if engine:
            from drn_edge.runtime import DerainEngine

            with DerainEngine(engine, color="rgb", threads=args.threads) as e:
                detection_grid(args.detect_grid, detector, medium, e.derain_rgb, labels[-1], detector.class_names)
            print(f"wrote {args.detect_grid}: rainy | {labels[-1]} | clean with boxes, medium rain")


def _video(args, engines: list[str], h: int, w: int) -> int:
    from drn_edge.bench.video import (VideoBenchRequest, first_frames_image, format_video_table, plot_video, run_video_bench,
                               video_markdown, write_side_by_side)

    req = VideoBenchRequest(clip=args.video, engines=tuple(engines), backend=args.backend, height=h, width=w,
                            frames=args.video_frames, level=args.rain, generator=args.rain_generator, seed=args.seed,
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
    from drn_edge.errors import DrnEdgeError
    from drn_edge.bench.streams import StreamBenchRequest, format_stream_table, plot_streams, run_stream_bench, stream_markdown

    if len(engines) != 1:
        raise DrnEdgeError(f"--streams measures one engine at a time; give exactly one --engine (got {len(engines)})")
    if args.streams < 1 or args.seconds <= 0 or args.fps <= 0 or args.queue < 1:
        raise DrnEdgeError("--streams and --queue must be at least 1, --seconds and --fps above 0")
    if args.grid:
        raise DrnEdgeError("--grid is not produced by --streams (no fidelity is measured); use --plot for latency over time")
    report = run_stream_bench(StreamBenchRequest(engine=engines[0], streams=args.streams, fps=args.fps,
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
    from drn_edge.outputs import write_bytes, write_json

    if args.json:
        write_json(args.json, report)
    if args.markdown:
        write_bytes(args.markdown, markdown(report).encode())


if __name__ == "__main__":
    raise SystemExit(main())
