"""drn-export: checkpoint -> ONNX (FP32/FP16/INT8 QDQ) -> TensorRT plans, with a fidelity report."""
from __future__ import annotations

import argparse

from . import friendly_errors


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="drn-export", description=(
        "Export a DRN checkpoint (default: the shipped one) to ONNX, FP16/INT8 ONNX and TensorRT plans. "
        "Example: drn-export --int8   |   drn-export --preset jetson-orin-nano --int8"))
    src = p.add_mutually_exclusive_group()
    src.add_argument("--checkpoint", help="a .safetensors checkpoint (default: the shipped model)")
    src.add_argument("--onnx", help="only build TensorRT plan(s) from this drn*.onnx (on the GPU machine)")
    p.add_argument("--out", default="drn_export", help="output folder (default: %(default)s)")
    p.add_argument("--preset", help="target preset: jetson-orin-nano, jetson-orin-nx, jetson-agx-orin, x86-gpu, cpu")
    p.add_argument("--height", type=int, help="fixed input height (multiple of 8); omit with --width for dynamic size")
    p.add_argument("--width", type=int, help="fixed input width (multiple of 8)")
    p.add_argument("--io", choices=("float", "uint8"), help="graph I/O: float NCHW RGB, or uint8 NHWC BGR frames (default: float, or the preset's)")
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("--fp16", action="store_true", help="also write drn.fp16.onnx (and an FP16 plan)")
    p.add_argument("--int8", action="store_true", help="also write drn.int8.onnx, calibrated (and an INT8 plan)")
    p.add_argument("--prune", type=float, help="fraction of channels to remove before export, e.g. 0.3")
    p.add_argument("--finetune-steps", type=int, default=300, help="fine-tune steps after pruning (default: %(default)s)")
    p.add_argument("--calib", help="folder of calibration frames from your camera (default: the bundled set)")
    p.add_argument("--calib-method", choices=("minmax", "entropy", "percentile"), default="percentile")
    p.add_argument("--calib-size", help="calibrate at HxW, e.g. 240x320 (default: the export size or the frames' size)")
    p.add_argument("--int8-keep-edges", action="store_true", help="keep the first and last conv in float")
    p.add_argument("--backend", choices=("auto", "onnx", "tensorrt"), help=(
        "auto: ONNX files, plus plans when TensorRT and a GPU are present; onnx: ONNX only; "
        "tensorrt: plans required (fails without TensorRT)"))
    p.add_argument("--workspace", type=float, help="TensorRT workspace limit in GiB")
    p.add_argument("--dla-core", type=int, help="build for this DLA core (Jetson AGX/NX), with GPU fallback")
    p.add_argument("--timing-cache", help="TensorRT timing cache file, reused across builds (default: OUT/timing.cache)")
    p.add_argument("--max-batch", type=int, default=1, help="largest batch the plan accepts (default: %(default)s)")
    p.add_argument("--plan-size", help="profile size HxW for plans built from a dynamic ONNX (default: 720x1280)")
    p.add_argument("--no-fidelity", action="store_true", help="skip the fidelity report")
    p.add_argument("--triton", help="also write a Triton model repository to this folder")
    return p


def _hw(text: str | None, flag: str):
    if text is None:
        return None
    from ..errors import ExportError

    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise ExportError(f"{flag} takes HxW, e.g. 360x640; got {text!r}") from None
    return h, w


@friendly_errors
def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from ..onnx_export import ExportSpec
    from ..pipeline import ExportRequest, load_preset, run_export, run_plan_build

    preset = load_preset(args.preset) if args.preset else {}
    if preset:
        print(f"preset {args.preset}: {preset['description']}")
    pick = lambda value, key, default: value if value is not None else preset.get(key, default)  # noqa: E731
    precisions = ["fp32"] + (["fp16"] if args.fp16 else []) + (["int8"] if args.int8 else [])
    if not args.fp16 and not args.int8 and preset.get("precision", "fp32") != "fp32":
        precisions.append(preset["precision"])
    backend = pick(args.backend, "backend", "auto")
    if args.onnx:
        run_plan_build(args.onnx, out_dir=args.out, precision=None, plan_size=_hw(args.plan_size, "--plan-size"),
                       workspace_gib=pick(args.workspace, "workspace_gib", 2.0), dla_core=pick(args.dla_core, "dla_core", None),
                       timing_cache=args.timing_cache, max_batch=args.max_batch)
        return 0
    height, width = pick(args.height, "height", None), pick(args.width, "width", None)
    req = ExportRequest(
        out_dir=args.out, checkpoint=args.checkpoint,
        spec=ExportSpec(height, width, pick(args.io, "io", "float"), args.opset),
        precisions=tuple(precisions), prune_ratio=pick(args.prune, "prune", None), finetune_steps=args.finetune_steps,
        calib_dir=args.calib, calib_method=args.calib_method, calib_size=_hw(args.calib_size, "--calib-size"),
        keep_float_edges=args.int8_keep_edges, backend=backend, workspace_gib=pick(args.workspace, "workspace_gib", 2.0),
        dla_core=pick(args.dla_core, "dla_core", None), timing_cache=args.timing_cache, max_batch=args.max_batch,
        plan_size=_hw(args.plan_size, "--plan-size"), fidelity=not args.no_fidelity)
    result = run_export(req)
    if args.triton:
        from ..triton import best_artifact, write_model_repository

        repo = write_model_repository(best_artifact(result.artifacts), args.triton, max_batch=args.max_batch)
        print(f"wrote Triton model repository {repo}")
    print("artifacts:")
    for label, path in result.artifacts.items():
        print(f"  {label:<18} {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
