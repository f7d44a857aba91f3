"""The drn-export job: checkpoint -> (prune + fine-tune) -> ONNX -> FP16 / INT8 QDQ -> TensorRT plans.

`run_export` is a short sequence of stage functions over an `_Export` state; each stage does one
thing. Nothing changes a request silently: what cannot be honoured (e.g. a plan without
TensorRT) is an error, or with backend="auto" a clearly printed note with the next commands.
"""
from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from drn_edge.artifacts import PRUNED_CHECKPOINT, artifact_path, resolve_checkpoint
from drn_edge.errors import EngineError, ExportError, OutputError
from drn_edge.export.calibration import (
    FEW_CALIBRATION_FRAMES,
    RANGE_SEED,
    FrameCalibrationReader,
    calibration_hash,
    calibration_size,
    find_calibration_dir,
    load_calibration_frames,
    rain_over,
    shipped_ranges_for,
)
from drn_edge.export.fidelity_report import export_frames, fidelity_report, format_fidelity
from drn_edge.export.plans import next_commands
from drn_edge.export.prune_stage import prune_and_finetune
from drn_edge.export.quantize import convert_fp16, quantize_int8
from drn_edge.export.request import DEFAULT_PLAN_SIZE, ExportRequest
from drn_edge.export.tensorrt_plan import PlanSettings, build_plan, tensorrt_available
from drn_edge.onnx_spec import INPUT_NAME, ExportSpec, io_description
from drn_edge.outputs import output_lock, plan_outputs, sha256_file
from drn_edge.sidecar import INCOMPLETE_MARKER, read_sidecar, update_sidecar, write_sidecar

if TYPE_CHECKING:
    from drn_edge.model.drn import DRN


MAX_DROP_DB = 1.0  # an artifact losing more than this against FP32 (held-out medium rain) is refused (--allow-drop)


def ensure_output_dir(path: Path) -> Path:
    """Create the output folder, after every check has passed (the planner proved it can be written)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot write to output folder '{path}': {exc.strerror or exc}; "
                          "choose a writable folder (--out) with free space") from None
    return path


@dataclass
class ExportResult:
    artifacts: dict[str, str] = field(default_factory=dict)
    fidelity: list[dict] = field(default_factory=list)
    prune: dict | None = None
    notes: list[str] = field(default_factory=list)
    parity: dict | None = None
    calibration: dict | None = None
    next_commands: list[str] = field(default_factory=list)


def stale_artifacts(out: Path, current: dict[str, str]) -> list[str]:
    """Artifacts in OUT that this run did not write and whose source is not one of this run's artifacts."""
    stale = []
    for p in sorted(out.glob("drn.*")):
        if p.suffix == ".json" or p.name in current:
            continue
        rec = read_sidecar(p, required=False)
        if rec is None or rec.get("source", {}).get("sha256") not in current.values():
            stale.append(p.name)
    return stale


@dataclass
class _Export:
    """The job's state, filled in running order: checks set ckpt/model/source/calibration, stages the rest."""

    req: ExportRequest
    out: Path
    log: Callable[[str], None]
    ckpt: Path | None = None                # the checkpoint, resolved once
    model: DRN | None = None                # the model being exported (pruned, when asked)
    source_model: DRN | None = None         # the checkpoint as loaded, before pruning
    source: dict = field(default_factory=dict)
    calib_dir: Path | None = None
    shipped_ranges: dict | None = None      # the shipped INT8 ranges of a shipped checkpoint (no --calib)
    trt: tuple[bool, str] = (False, "")
    base_meta: dict = field(default_factory=dict)
    onnx: dict[str, Path] = field(default_factory=dict)   # precision -> ONNX path
    result: ExportResult = field(default_factory=ExportResult)
    _frames: list | None = None

    @property
    def frames(self) -> list:
        """The held-out frames of parity, pruning and fidelity: built once."""
        if self._frames is None:
            self._frames = export_frames(self.req.spec)
        return self._frames


def run_export(req: ExportRequest, log: Callable[[str], None] = print) -> ExportResult:
    """Check everything (inputs, outputs, the checkpoint itself), then create the folder and run the stages."""
    t0 = time.time()
    log("export request (after preset and flags):\n" + req.describe())
    st = _Export(req, Path(req.out_dir), log)
    _check_inputs(st)  # nothing is written before this returns
    with output_lock(st.out, "drn-export"):
        ensure_output_dir(st.out)
        marker = st.out / INCOMPLETE_MARKER
        _write_marker(marker)
        for stage in (_prune, _export_fp32, _export_fp16, _export_int8, _record_sidecars, _measure_fidelity,
                      _build_plans, _flag_stale, _next_steps):
            stage(st)
        marker.unlink(missing_ok=True)
    log(f"done in {time.time() - t0:.1f} s")
    return st.result


def _check_inputs(st: _Export) -> None:
    """Everything a later stage needs is checked now, before anything is written: the checkpoint is resolved and
    loaded once, TensorRT, calibration and every output path are checked."""
    # lazy: pulls in torch, which importing this module does not
    from drn_edge.model.checkpoint import load_checkpoint
    from drn_edge.model.drn import set_torch_threads

    req = st.req
    st.ckpt = resolve_checkpoint(req.model.checkpoint)
    _refuse_other_models_export(st)
    st.trt = tensorrt_available()
    if req.plan.backend == "tensorrt" and not st.trt[0]:
        raise ExportError(f"--backend tensorrt cannot build a plan here: {st.trt[1]}")
    if "int8" in req.precisions:
        st.calib_dir = Path(req.calibration.dir) if req.calibration.dir else find_calibration_dir()
        if st.calib_dir is not None:
            load_calibration_frames(st.calib_dir, 8, 8)  # decodes every frame: a bad one fails here, not after drn.onnx
        else:
            st.shipped_ranges = shipped_ranges_for(st.ckpt, req.calibration, bool(req.model.prune_ratio))
    _plan_artifacts(st)
    set_torch_threads(req.threads)
    st.model = st.source_model = load_checkpoint(st.ckpt)[0]
    st.source = {"file": st.ckpt.name, "sha256": sha256_file(st.ckpt), "kind": "checkpoint"}
    _require_finite_weights(st.model, st.ckpt)
    st.log(f"checkpoint {st.ckpt} ({st.model.cfg.name})")


def _plan_artifacts(st: _Export) -> None:
    """The files this export writes (ONNX, sidecars, the pruned checkpoint), through the one output planner: none
    may be the checkpoint, lie in the calibration folder, or be a link; the folder must be writable."""
    paths = [artifact_path(st.out, p) for p in st.req.precisions]
    outputs = {f"--out ({p.name})": p for p in paths} | {f"--out ({p.name}.json)": Path(f"{p}.json") for p in paths}
    if st.req.model.prune_ratio:
        outputs["--out (pruned checkpoint)"] = st.out / PRUNED_CHECKPOINT
    plan_outputs(outputs, files=[st.ckpt], folders=[st.calib_dir])


def _prune(st: _Export) -> None:
    m = st.req.model
    if m.prune_ratio:
        st.model, st.source, st.result.prune = prune_and_finetune(st.model, m.prune_ratio, m.finetune_steps, st.frames,
                                                                  st.out, st.ckpt, st.log)
        st.result.artifacts["pruned-checkpoint"] = st.result.prune["checkpoint"]


def _export_fp32(st: _Export) -> None:
    # lazy: pulls in onnx, torch, which importing this module does not
    from drn_edge.export.torch_to_onnx import check_parity, export_onnx

    fp32 = artifact_path(st.out, "fp32")
    export_onnx(st.model, fp32, st.req.spec)
    parity_frame = st.frames[0].rainy
    parity = check_parity(fp32, st.model, parity_frame if st.req.spec.fixed else parity_frame[:256, :384])
    if not parity.ok:
        fp32.unlink(missing_ok=True)
        raise ExportError(f"the exported graph does not reproduce the PyTorch model (mean |diff| {parity.mean_abs:.3g}, "
                          f"99.9th percentile {parity.p999_abs:.3g}; tolerances {parity.MEAN_TOLERANCE:g} and "
                          f"{parity.P999_TOLERANCE:g}); nothing was written. Report this with the checkpoint")
    st.log(f"wrote {fp32}: parity vs PyTorch on a real frame: mean |diff| {parity.mean_abs:.2e}, max {parity.max_abs:.2e}")
    st.base_meta = {"kind": "onnx", "spec": asdict(st.req.spec), "io": io_description(fp32),
                    "model_config": st.model.cfg.to_dict(), "preset": st.req.preset,
                    "pruning": st.result.prune}
    st.onnx["fp32"] = fp32
    st.result.artifacts["fp32"] = str(fp32)
    st.result.parity = parity.as_dict()


def _export_fp16(st: _Export) -> None:
    if "fp16" in st.req.precisions:
        p = convert_fp16(st.onnx["fp32"], artifact_path(st.out, "fp16"))
        st.onnx["fp16"] = p
        st.result.artifacts["fp16"] = str(p)
        st.log(f"wrote {p}")


def _export_int8(st: _Export) -> None:
    # lazy: pulls in onnx, torch, which importing this module does not
    from drn_edge.export.torch_to_onnx import export_onnx

    if "int8" not in st.req.precisions:
        return
    c, spec = st.req.calibration, st.req.spec
    if st.shipped_ranges is not None:
        prov = st.shipped_ranges["provenance"]
        st.result.calibration = {"ranges": f"shipped (drn_edge/export/calibration_ranges/{prov['model']}.json)", **prov}
        st.log(f"INT8 with the shipped ranges of {prov['model']} ({prov['frames']} permissive road frames at "
               f"{prov['size'][0]}x{prov['size'][1]} under the rain family, {prov['method']})")
        p = quantize_int8(st.onnx["fp32"], artifact_path(st.out, "int8"), None, prov["method"], c.keep_float_edges,
                          ranges=st.shipped_ranges["ort_calibration_cache"][spec.io])
        st.onnx["int8"] = p
        st.result.artifacts["int8"] = str(p)
        st.log(f"wrote {p}")
        return
    # Default: the calibration frames' own size. The net is fully convolutional, and collecting
    # ranges at 720x1280 would need ~10 GB of intermediate tensors per frame.
    h, w = c.size or calibration_size(st.calib_dir)
    frames = load_calibration_frames(st.calib_dir, h, w)
    if c.rain == "add":
        frames = rain_over(frames)
    st.result.calibration = {"dir": st.calib_dir.name, "sha256": calibration_hash(st.calib_dir), "frames": len(frames),
                             "size": [h, w], "method": c.method, "keep_float_edges": c.keep_float_edges,
                             "rain": (f"drn_edge.rain.family drawn over the frames, seed {RANGE_SEED}, a third each "
                                      "low/medium/high" if c.rain == "add" else "none: the frames were already rainy")}
    st.log(f"calibrating INT8 on {len(frames)} frames from {st.calib_dir} at {h}x{w} ({c.method}; "
           f"{'--calib-size' if c.size else 'the first frame, scaled to at most 240x320 pixels'}; every frame is "
           "resized to it) ...")
    if len(frames) < FEW_CALIBRATION_FRAMES:
        st.log(f"warning: only {len(frames)} calibration frames; INT8 ranges from fewer than "
               f"{FEW_CALIBRATION_FRAMES} frames may clip the rain you did not show them: add frames from your camera")
    reader = FrameCalibrationReader(frames, INPUT_NAME[spec.io], spec.io == "uint8")
    with tempfile.TemporaryDirectory() as work:
        twin = None
        if spec.fixed and (h, w) != (spec.height, spec.width):
            twin = export_onnx(st.model, Path(work) / "dynamic.onnx", ExportSpec(io=spec.io, opset=spec.opset))
        p = quantize_int8(st.onnx["fp32"], artifact_path(st.out, "int8"), reader, c.method, c.keep_float_edges,
                          calibration_graph=twin)
    st.onnx["int8"] = p
    st.result.artifacts["int8"] = str(p)
    st.log(f"wrote {p}")


def _measure_fidelity(st: _Export) -> None:
    if st.req.fidelity:
        st.log("measuring fidelity on held-out frames ...")
        source = st.source_model if st.req.model.prune_ratio else None
        st.result.fidelity = fidelity_report(st.model, {f"onnx-{k}": v for k, v in st.onnx.items()}, st.frames,
                                             source_model=source)
        st.log(format_fidelity(st.result.fidelity))
        rows = {r["artifact"]: r for r in st.result.fidelity}
        for prec, path in st.onnx.items():  # each sidecar records its own measured fidelity
            update_sidecar(path, {"fidelity": rows.get(f"onnx-{prec}")})
        _check_drops(st, rows)
    elif len(st.onnx) > 1:
        st.log("note: --no-fidelity: the FP16/INT8 artifacts' drop against FP32 was not measured nor checked")


def _check_drops(st: _Export, rows: dict) -> None:
    """An artifact that loses more than MAX_DROP_DB is an error and is removed (with --allow-drop: kept, a
    warning). A careful tool does not report success for an INT8 model that ruins frames (e.g. calibrated on
    black frames: 11 dB below FP32)."""
    for prec, path in list(st.onnx.items()):
        row = rows.get(f"onnx-{prec}") or {}
        drop = row.get("drop_db")
        if prec == "fp32" or drop is None or drop <= MAX_DROP_DB:
            continue
        what = (f"{path.name} loses {drop:.2f} dB PSNR against the FP32 model on held-out medium rain (limit "
                f"{MAX_DROP_DB:g} dB)")
        hint = ("Calibrate on more, and rainy, frames from your camera (--calib DIR), try --calib-method entropy or "
                "--keep-float-edges" if prec == "int8" else "Keep FP32 for this model")
        if st.req.allow_drop:
            st.result.notes.append(f"{what}; kept because of --allow-drop")
            st.log(f"WARNING: {what}; kept because of --allow-drop")
            continue
        path.unlink(missing_ok=True)
        Path(f"{path}.json").unlink(missing_ok=True)
        raise ExportError(f"{what}: it was removed. {hint}; or pass --allow-drop to keep it")


def _record_sidecars(st: _Export) -> None:
    """Each ONNX gets its sidecar: provenance, preset and pruning (fidelity is added once measured)."""
    fp32_rec = None
    for prec, path in st.onnx.items():
        meta = {**st.base_meta, "precision": prec, "fidelity": None}
        if prec == "fp32":
            meta |= {"source": st.source, "parity_vs_pytorch": st.result.parity}
            fp32_rec = write_sidecar(path, meta)
            continue
        meta["source"] = {"file": st.onnx["fp32"].name, "sha256": fp32_rec["sha256"], "kind": "onnx"}
        if prec == "int8":
            meta["calibration"] = st.result.calibration
        write_sidecar(path, meta)


def _build_plans(st: _Export) -> None:
    req = st.req
    if req.plan.backend not in ("auto", "tensorrt"):
        return
    if not st.trt[0]:
        note = f"no TensorRT plan built: {st.trt[1]}. Copy {st.out}/ to the GPU machine and build there (below)."
        st.result.notes.append(note)
        st.log(f"note: {note}")
        return

    hw = (req.spec.height, req.spec.width) if req.spec.fixed else (req.plan.size or DEFAULT_PLAN_SIZE)
    for prec in req.precisions:
        settings = PlanSettings(prec, hw[0], hw[1], req.plan.max_batch, req.plan.workspace_gib, req.plan.dla_core,
                                req.plan.timing_cache or str(st.out / "timing.cache"))
        plan = artifact_path(st.out, prec, "plan")
        build_plan(artifact_path(st.out, prec), plan, settings, log=st.log)
        st.result.artifacts[f"plan-{prec}"] = str(plan)
        st.log(f"wrote {plan}")


def _flag_stale(st: _Export) -> None:
    """Artifacts of an earlier export that this one did not replace: with --overwrite (replace this folder's export)
    the old model's engines go, sidecars with them, so nothing can run them by mistake; else each is flagged."""
    current = {Path(a).name: sha256_file(a) for a in st.result.artifacts.values()}
    for name in stale_artifacts(st.out, current):
        path = st.out / name
        if st.req.overwrite and path.suffix in (".onnx", ".plan"):
            path.unlink()
            Path(f"{path}.json").unlink(missing_ok=True)
            st.log(f"removed {path}: made from the replaced drn.onnx (--overwrite)")
            continue
        note = f"{path} is stale (made from another drn.onnx); delete it or re-export it"
        st.result.notes.append(note)
        st.log(f"warning: {note}")


def _next_steps(st: _Export) -> None:
    """The exact commands for the target: drn-export --onnx there, or trtexec with the input name and shapes."""
    req = st.req
    if any(k.startswith("plan-") for k in st.result.artifacts):
        return
    prec = req.precisions[-1]
    onnx = artifact_path(st.out, prec)
    st.result.next_commands = next_commands(onnx, prec, req.spec, req.plan.size, req.plan.max_batch)
    st.log("next, on the target (Jetson or GPU machine with TensorRT), with this folder copied there:\n"
           + "\n".join(f"  {c}" for c in st.result.next_commands))


def _require_finite_weights(model, ckpt: Path) -> None:
    import torch

    bad = [n for n, p in model.state_dict().items() if p.is_floating_point() and not torch.isfinite(p).all()]
    if bad:
        raise ExportError(f"checkpoint '{ckpt}' has NaN or infinite weights in {len(bad)} tensor(s) (e.g. {bad[0]}); "
                          "training diverged or the file is damaged: export an earlier checkpoint")


def _write_marker(marker: Path) -> None:
    """The in-progress marker, written without following a symlink someone planted under its name."""
    if marker.is_symlink():
        marker.unlink()
    fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o644)
    with os.fdopen(fd, "w") as fh:
        fh.write("drn-export is writing this folder; if this file stays, that export did not finish\n")


def _refuse_other_models_export(st: _Export) -> None:
    """An existing drn.onnx made from another checkpoint is replaced only with --overwrite (as drn-train and
    drn-derain do); re-exporting the same checkpoint is fine."""
    req = st.req
    existing = artifact_path(st.out, "fp32")
    if req.overwrite or not existing.is_file():
        return
    try:
        src = (read_sidecar(existing, required=False) or {}).get("source", {})
    except EngineError:
        src = {}
    if req.model.prune_ratio:
        same = src.get("file") == PRUNED_CHECKPOINT  # this folder's own pruned model, pruned again
    else:
        same = st.ckpt.is_file() and src.get("sha256") == sha256_file(st.ckpt)
    if not same:
        raise ExportError(f"'{existing}' is an export of another model ({src.get('file', 'unknown source')}); pass "
                          "--overwrite to replace that folder's artifacts, or choose another --out")
