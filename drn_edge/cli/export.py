"""drn-export: checkpoint -> ONNX (FP32/FP16/INT8 QDQ) -> TensorRT plans, with a fidelity report."""
from __future__ import annotations

import argparse
from pathlib import Path

from drn_edge.artifacts import resolve_checkpoint
from drn_edge.checks import parse_hxw
from drn_edge.cli import CHECKPOINT_HELP, friendly_errors, parse_size, size_option, threads_option
from drn_edge.errors import ExportError
from drn_edge.export.triton import best_artifact, refuse_other_models_repository, repository_files, write_model_repository
from drn_edge.onnx_spec import IO_MODES
from drn_edge.outputs import plan_outputs, sha256_file


def build_parser() -> argparse.ArgumentParser:
    # lazy: keeps `--help` and argument errors instant; this loads numpy
    from drn_edge.export.quantize import CALIBRATION_METHODS
    from drn_edge.export.request import EXPORT_BACKENDS, preset_names

    # Options default to None so that only what the user typed overrides a preset.
    p = argparse.ArgumentParser(prog="drn-export", description=(
        "Export a DRN checkpoint (default: the shipped one) to ONNX, FP16/INT8 ONNX and TensorRT plans. "
        "Example: drn-export --int8   |   drn-export --preset jetson-orin-nano --int8"))
    src = p.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", help=CHECKPOINT_HELP)
    src.add_argument("--onnx", help="only build a TensorRT plan from this drn*.onnx, on the GPU machine (default: none)")
    p.add_argument("--out", help="output folder (default: drn_export)")
    p.add_argument("--preset", help=f"target preset ({', '.join(preset_names())}): sets size, I/O, precision, pruning "
                   "and plan settings; options you give override it; 'list' prints what each sets (default: none)")
    size_option(p, "fixed input size HxW, multiples of 8, e.g. 720x1280 (default: dynamic size, or the preset's)")
    p.add_argument("--io", choices=IO_MODES, help="graph I/O: float NCHW RGB, or uint8 NHWC BGR frames with "
                   "the conversion in the graph (default: float, or the preset's)")
    p.add_argument("--opset", type=int, help="ONNX opset, at least 17 (default: 17)")
    p.add_argument("--fp16", action="store_true", default=None,
                   help="also write drn.fp16.onnx and an FP16 plan (default: off, or the preset's precision)")
    p.add_argument("--int8", action="store_true", default=None,
                   help="also write drn.int8.onnx, calibrated, and an INT8 plan (default: off, or the preset's precision)")
    p.add_argument("--prune", type=float, help="fraction of channels to remove before export, e.g. 0.3 (default: none, "
                   "or the preset's)")
    p.add_argument("--finetune-steps", type=int, help="fine-tune steps after pruning (default: 300)")
    p.add_argument("--calib", help="folder of calibration frames, ideally rainy frames from your camera "
                   "(default: the INT8 ranges shipped for drn_base and drn_edge; any other checkpoint needs --calib)")
    p.add_argument("--calib-method", choices=CALIBRATION_METHODS, help="INT8 range method, with --calib (default: percentile)")
    p.add_argument("--calib-rain", choices=("add", "none"),
                   help="with --calib: 'add' draws the project's rain over the frames (seeded), since INT8 ranges must "
                        "describe rainy input (clean frames lost 1.1 dB, the same frames rained 0.09); 'none' for "
                        "frames that are already rainy (default: add)")
    p.add_argument("--calib-size", help="calibrate at HxW, with --calib, e.g. 240x320 (default: the calibration frames' own size)")
    p.add_argument("--int8-keep-edges", action="store_true", default=None,
                   help="keep the first and last conv in float (default: off)")
    p.add_argument("--backend", choices=EXPORT_BACKENDS, help=(
        "auto: ONNX files, plus plans when TensorRT and a GPU are present; onnx: ONNX only; "
        "tensorrt: plans required, fails without TensorRT (default: auto, or the preset's)"))
    p.add_argument("--workspace", type=float, help="TensorRT workspace limit in GiB (default: 2, or the preset's)")
    p.add_argument("--dla-core", type=int, help="build for this DLA core (Jetson AGX/NX), with GPU fallback (default: none)")
    p.add_argument("--timing-cache", help="TensorRT timing cache file, reused across builds (default: OUT/timing.cache)")
    p.add_argument("--max-batch", type=int, help="largest batch the plan accepts (default: 1)")
    p.add_argument("--plan-size", help="profile size HxW for plans built from a dynamic ONNX (default: 720x1280)")
    threads_option(p, "torch and ONNX Runtime")
    p.add_argument("--no-fidelity", action="store_true",
                   help="skip the fidelity report, and with it the drop check (default: measured)")
    p.add_argument("--allow-drop", action="store_true",
                   help="keep an FP16/INT8 artifact that loses more than 1 dB against the FP32 model on held-out "
                        "frames (a warning instead of an error) (default: such an artifact is an error and removed)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an export of another checkpoint in --out (default: refused)")
    p.add_argument("--triton", help="also write a Triton model repository to this folder (default: none)")
    return p


# CLI option -> build_request key
_GIVEN = {"out": "out_dir", "checkpoint": "checkpoint", "io": "io", "opset": "opset", "fp16": "fp16", "int8": "int8",
          "prune": "prune", "finetune_steps": "finetune_steps", "calib": "calib_dir", "calib_method": "calib_method",
          "calib_rain": "calib_rain",
          "int8_keep_edges": "keep_float_edges", "backend": "backend", "workspace": "workspace_gib",
          "dla_core": "dla_core", "timing_cache": "timing_cache", "max_batch": "max_batch", "threads": "threads"}


@friendly_errors
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)

    # lazy: keeps `--help` and argument errors instant; this loads numpy
    from drn_edge.export.pipeline import run_export
    from drn_edge.export.plans import run_plan_build
    from drn_edge.export.request import Preset, build_request

    if args.preset == "list":
        # lazy: keeps `--help` and argument errors instant; this loads numpy
        from drn_edge.export.request import preset_names

        for name in preset_names():
            p = Preset.load(name)
            size = f"{p.height}x{p.width}" if p.height else "dynamic"
            print(f"{name:<18} {p.checkpoint or 'drn_base':<9} {size:<9} {p.io:<6} {p.precision:<5} prune "
                  f"{p.prune or 0:<4} backend {p.backend:<5} workspace {p.workspace_gib:g} GiB\n"
                  f"{'':<18} {p.description}")
        return 0
    given = {key: getattr(args, opt) for opt, key in _GIVEN.items() if getattr(args, opt) is not None}
    size = parse_size(args, "export")
    if size:
        given["size"] = size
    for flag, key in (("--calib-size", "calib_size"), ("--plan-size", "plan_size")):
        value = getattr(args, key)
        if value is not None:
            given[key] = parse_hxw(value, flag)
    if args.overwrite:
        given["overwrite"] = True
    if args.allow_drop:
        given["allow_drop"] = True
    if args.triton and Path(args.triton).exists() and not Path(args.triton).is_dir():
        raise ExportError(f"--triton '{args.triton}' is a file; give a folder for the model repository")
    if args.triton:
        source = Path(args.onnx) if args.onnx else resolve_checkpoint(args.checkpoint)
        plan_outputs(repository_files(args.triton), files=[source])
        refuse_other_models_repository(args.triton, source, args.overwrite)
    if args.no_fidelity:
        given["fidelity"] = False
    preset = Preset.load(args.preset) if args.preset else None
    req, notes = build_request(preset, given)
    if preset:
        print(f"preset {preset.name}: {preset.description}")
    for note in notes:
        print(f"note: {note}")
    if args.onnx:
        plan = run_plan_build(args.onnx, out_dir=req.out_dir, plan=req.plan)
        artifacts = {f"plan-{_precision_of(plan)}": str(plan)}
    else:
        artifacts = run_export(req).artifacts
    if args.triton:
        source = Path(args.onnx) if args.onnx else resolve_checkpoint(args.checkpoint)
        repo = write_model_repository(best_artifact(artifacts), args.triton, max_batch=req.plan.max_batch,
                                      checkpoint_sha256=sha256_file(source))
        print(f"wrote Triton model repository {repo}")
    print("artifacts:")
    for label, path in artifacts.items():
        print(f"  {label:<18} {path}")
    return 0


def _precision_of(plan) -> str:
    return plan.name.split(".")[1]


if __name__ == "__main__":
    raise SystemExit(main())
