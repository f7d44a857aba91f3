"""Triton Inference Server model repository from a drn-export artifact: the path for many cameras or a video archive.

Layout: REPO/drn/config.pbtxt, REPO/drn/1/model.plan (or model.onnx), REPO/drn/provenance.json.
Names, dtypes and dims come from the artifact itself (the ONNX graph; a plan's verified sidecar, as a plan
cannot be read without TensorRT), so the config cannot drift from the file. Every string that goes into
config.pbtxt is checked against a plain-name pattern: nothing from a file can inject pbtxt.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from drn_edge.errors import ExportError
from drn_edge.onnx_spec import io_description
from drn_edge.outputs import atomic_path, loads_bounded, sha256_file, write_bytes, write_json
from drn_edge.sidecar import verify_artifact

TRITON_DTYPES = {"uint8": "TYPE_UINT8", "float32": "TYPE_FP32", "float16": "TYPE_FP16"}
SAFE_NAME = re.compile(r"^[A-Za-z0-9_.:/\-]{1,128}$")  # tensor and model names ONNX exports write


def _safe(value, what: str) -> str:
    if not isinstance(value, str) or not SAFE_NAME.match(value):
        raise ExportError(f"{what} {value!r} is not a plain name (letters, digits, _ . : / -); refusing to write it "
                          "into config.pbtxt")
    return value


def _dims(shape: list, fallback: list) -> list[int]:
    return [int(d) if isinstance(d, int) and d > 0 else (int(f) if isinstance(f, int) and f > 0 else -1)
            for d, f in zip(shape, fallback)]


def model_config(record: dict, name: str = "drn", max_batch: int = 1, instances: int = 1,
                 gpu: bool = True) -> str:
    """config.pbtxt text for an artifact sidecar record (first dim is the batch, as Triton expects)."""
    _safe(name, "model name")
    try:
        io = record["io"]
        inp, out = io["inputs"][0], io["outputs"][0]
        for t in (inp, out):
            _safe(t["name"], "tensor name")
            if not isinstance(t["shape"], list) or len(t["shape"]) != 4:
                raise TypeError(f"shape {t['shape']!r}")
        if record.get("kind") == "tensorrt-plan":
            platform, max_batch = "tensorrt_plan", record.get("profile", {}).get("max_batch", max_batch)
        else:
            platform = "onnxruntime_onnx"
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ExportError(f"the artifact's I/O description is malformed ({type(exc).__name__}: {exc}); rebuild it "
                          "with drn-export") from None
    if isinstance(max_batch, bool) or not isinstance(max_batch, int) or not 1 <= max_batch <= 256:
        raise ExportError(f"max batch {max_batch!r} must be a whole number from 1 to 256")
    in_dims = _dims(inp["shape"][1:], inp["shape"][1:])
    out_dims = _dims(out["shape"][1:], inp["shape"][1:])  # same frame size as the input by construction
    for t in (inp, out):
        if t["dtype"] not in TRITON_DTYPES:
            raise ExportError(f"tensor {t['name']} has dtype {t['dtype']}, which this exporter cannot map to Triton")
    lines = [f'name: "{name}"', f'platform: "{platform}"', f"max_batch_size: {max_batch}",
             "input [", f'  {{ name: "{inp["name"]}" data_type: {TRITON_DTYPES[inp["dtype"]]} dims: {in_dims} }}', "]",
             "output [", f'  {{ name: "{out["name"]}" data_type: {TRITON_DTYPES[out["dtype"]]} dims: {out_dims} }}', "]",
             f"instance_group [ {{ count: {instances} kind: {'KIND_GPU' if gpu else 'KIND_CPU'} }} ]"]
    if max_batch > 1:
        lines.append("dynamic_batching { }")
    return "\n".join(lines) + "\n"


def repository_files(repo_dir: str | os.PathLike, name: str = "drn") -> dict[str, Path]:
    """What write_model_repository may write, flag -> path, for the output planner (checked before any export)."""
    model_dir = Path(repo_dir) / name
    files = (model_dir / "1" / "model.onnx", model_dir / "1" / "model.plan", model_dir / "config.pbtxt",
             model_dir / "provenance.json")
    return {f"--triton ({p.relative_to(repo_dir)})": p for p in files}


def refuse_other_models_repository(repo_dir: str | os.PathLike, checkpoint: Path, overwrite: bool,
                                   name: str = "drn") -> None:
    """An existing repository is replaced only with --overwrite, unless it holds an export of this same checkpoint
    (its provenance names the checkpoint's sha256, directly or through the FP32 ONNX it was made from)."""
    provenance = Path(repo_dir) / name / "provenance.json"
    if overwrite or not (Path(repo_dir) / name).exists():
        return
    try:
        record = loads_bounded(provenance.read_bytes(), f"'{provenance}'")
        sources = {record.get("source", {}).get("sha256"), record.get("made_from_checkpoint_sha256")}
    except (OSError, ValueError, AttributeError):
        sources = set()
    if not (checkpoint.is_file() and sha256_file(checkpoint) in sources):
        raise ExportError(f"--triton '{repo_dir}' already holds model '{name}' from another export; pass --overwrite "
                          "to replace it, or choose another --triton folder")


def write_model_repository(artifact: str | os.PathLike, repo_dir: str | os.PathLike, name: str = "drn",
                           max_batch: int = 1, instances: int = 1, gpu: bool | None = None,
                           checkpoint_sha256: str | None = None) -> Path:
    """Copy a verified artifact into a Triton repository with a config that matches its sidecar."""
    artifact = Path(artifact)
    record = verify_artifact(artifact, required=True)
    is_plan = artifact.suffix == ".plan"
    if (record.get("kind") == "tensorrt-plan") != is_plan:
        raise ExportError(f"the sidecar of '{artifact}' says kind {record.get('kind')!r}, which a {artifact.suffix} "
                          "file is not; rebuild it with drn-export")
    if not is_plan:  # the graph itself, not what the sidecar claims

        record = {**record, "io": io_description(artifact)}
    gpu = is_plan if gpu is None else gpu
    model_dir = Path(repo_dir) / name
    version = model_dir / "1"
    version.mkdir(parents=True, exist_ok=True)
    target = version / ("model.plan" if is_plan else "model.onnx")
    with atomic_path(target) as tmp:
        shutil.copyfile(artifact, tmp)
    write_bytes(model_dir / "config.pbtxt", model_config(record, name, max_batch, instances, gpu).encode())
    write_json(model_dir / "provenance.json", record | ({"made_from_checkpoint_sha256": checkpoint_sha256}
                                                        if checkpoint_sha256 else {}))
    return Path(repo_dir)


def best_artifact(artifacts: dict[str, str]) -> str:
    """The plan of the lowest requested precision if one was built; without a plan the FP32 ONNX, since ONNX
    Runtime on a CPU runs INT8/FP16 no faster than FP32 (CPUs without VNNI) and a GPU server should get a plan."""
    for key in ("plan-int8", "plan-fp16", "plan-fp32", "fp32", "int8", "fp16"):
        if key in artifacts:
            return artifacts[key]
    raise ExportError("no artifact to put in the Triton repository")
