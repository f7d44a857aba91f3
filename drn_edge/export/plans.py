"""TensorRT plans from drn-export's ONNX: build one here (needs TensorRT), or the exact commands that build it on
the target (drn-export --onnx there, or trtexec with the input name and the profile shapes)."""
from __future__ import annotations

from pathlib import Path

from drn_edge.artifacts import artifact_path
from drn_edge.errors import ExportError
from drn_edge.export.request import DEFAULT_PLAN_SIZE
from drn_edge.export.tensorrt_plan import PlanSettings, build_plan, tensorrt_available
from drn_edge.onnx_spec import INPUT_NAME, ExportSpec, io_shape
from drn_edge.outputs import plan_outputs
from drn_edge.sidecar import verify_artifact

__all__ = ["next_commands", "run_plan_build"]


def next_commands(onnx: Path, precision: str, spec: ExportSpec, plan_size, max_batch: int) -> list[str]:
    name = INPUT_NAME[spec.io]
    h, w = (spec.height, spec.width) if spec.fixed else (plan_size or DEFAULT_PLAN_SIZE)

    def dims(n: int) -> str:
        return "x".join(map(str, io_shape(spec.io, n, h, w)))

    flags = {"fp32": "", "fp16": " --fp16", "int8": " --int8 --fp16"}[precision]
    plan = artifact_path(onnx.parent, precision, "plan")
    return [f"drn-export --onnx {onnx} --out {onnx.parent}            # 1. build the plan (or, without drn-edge:)",
            f"trtexec --onnx={onnx} --saveEngine={plan}{flags} --minShapes={name}:{dims(1)} "
            f"--optShapes={name}:{dims(max_batch)} --maxShapes={name}:{dims(max_batch)}"
            "   # TensorRT 10.x; on 11.x drop --fp16/--int8 and add --stronglyTyped",
            f"drn-bench --engine {plan}            # 2. latency and fidelity drop of the plan on the device",
            f'python -c "from drn_edge.runtime import DerainEngine; e = DerainEngine(\'{plan}\'); print(e.backend_name)"'
            "   # 3. embed: DerainEngine (docs/runtime.md)"]


def run_plan_build(onnx_path: str, out_dir: str, plan, log=print) -> Path:
    """Build one plan from an ONNX written by drn-export (its sidecar gives precision and size). Needs TensorRT."""
    ok, reason = tensorrt_available()
    if not ok:
        raise ExportError(f"cannot build a TensorRT plan here: {reason}")
    record = verify_artifact(onnx_path, required=True)
    prec = record.get("precision", "fp32")
    spec = record.get("spec", {})
    hw = (spec.get("height"), spec.get("width")) if spec.get("height") else (plan.size or DEFAULT_PLAN_SIZE)
    out = Path(out_dir)
    settings = PlanSettings(prec, hw[0], hw[1], plan.max_batch, plan.workspace_gib, plan.dla_core,
                            plan.timing_cache or str(out / "timing.cache"))
    path = artifact_path(out, prec, "plan")

    plan_outputs({f"--out ({path.name})": path, f"--out ({path.name}.json)": Path(f"{path}.json")}, files=[onnx_path])
    build_plan(onnx_path, path, settings, log=log)
    log(f"wrote {path}")
    return path
