"""The drn-export job: checkpoint -> (prune + fine-tune) -> ONNX -> FP16 / INT8 QDQ -> TensorRT plans.

Each stage is a plain function; the job runs the ones asked for, in order, and never changes a
request silently: what cannot be honoured (e.g. a plan without TensorRT) is an error, or with
backend="auto" a clearly printed note saying the plan needs a GPU machine.
"""
from __future__ import annotations

import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


from ._atomic import sha256_file
from .artifacts import PRECISIONS, PRUNED_CHECKPOINT, artifact_path
from .errors import ExportError
from .onnx_export import ExportSpec, INPUT_NAME
from .sidecar import read_sidecar, write_sidecar

BACKENDS = ("auto", "onnx", "tensorrt")
PRESET_DIR = Path(__file__).parent / "presets"


@dataclass(frozen=True)
class ExportRequest:
    out_dir: str = "drn_export"
    checkpoint: str | None = None          # None: the shipped checkpoint
    spec: ExportSpec = ExportSpec()
    precisions: tuple[str, ...] = ("fp32",)
    prune_ratio: float | None = None
    finetune_steps: int = 300
    calib_dir: str | None = None           # None: the committed calibration set
    calib_method: str = "percentile"
    calib_size: tuple[int, int] | None = None  # None: the export size, else the frames' own size
    keep_float_edges: bool = False
    backend: str = "auto"
    workspace_gib: float = 2.0
    dla_core: int | None = None
    timing_cache: str | None = None
    max_batch: int = 1
    plan_size: tuple[int, int] | None = None   # profile size for dynamic ONNX
    fidelity: bool = True

    def __post_init__(self) -> None:
        bad = set(self.precisions) - set(PRECISIONS)
        if bad:
            raise ExportError(f"unknown precision(s) {sorted(bad)}; choose from {', '.join(PRECISIONS)}")
        if self.backend not in BACKENDS:
            raise ExportError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.prune_ratio is not None and not 0 < self.prune_ratio < 1:
            raise ExportError(f"--prune takes a fraction of channels to remove in (0, 1), got {self.prune_ratio}")


def ensure_output_dir(path: str) -> Path:
    """Create the output folder and prove it is writable before any minutes are spent."""
    import tempfile

    from .errors import OutputError

    out = Path(path)
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise OutputError(f"cannot write to output folder '{out}': {exc.strerror or exc}; "
                          "choose a writable folder (--out) with free space") from None
    return out


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def load_preset(name: str) -> dict:
    """A shipped preset by name; only the names in drn_edge/presets/ (never a path)."""
    from ._atomic import loads_bounded

    if name not in preset_names():
        raise ExportError(f"unknown preset {name!r}; available: {', '.join(preset_names())}")
    return loads_bounded((PRESET_DIR / f"{name}.json").read_text(), f"preset {name}")


@dataclass
class ExportResult:
    artifacts: dict[str, str] = field(default_factory=dict)
    fidelity: list[dict] = field(default_factory=list)
    prune: dict | None = None
    notes: list[str] = field(default_factory=list)


def _eval_frames(spec: ExportSpec) -> list:
    """Held-out frames under medium rain, at the export size when it is fixed (eval_frames' one builder)."""
    from .eval_frames import heldout_sources, rain_frames

    if spec.fixed:
        return rain_frames(heldout_sources(), ("medium",), size=(spec.height, spec.width))
    return rain_frames(heldout_sources(max_side=640), ("medium",))


def fidelity_report(model, artifacts: dict[str, Path], spec: ExportSpec) -> list[dict]:
    """Per artifact on held-out medium rain: PSNR/SSIM vs clean, and PSNR vs the FP32 PyTorch output."""
    from .evaluate import evaluate, torch_derain
    from .runtime import DerainEngine

    frames = _eval_frames(spec)
    table, refs = evaluate(torch_derain(model), frames)
    base = table["medium"]
    rows = [{"artifact": "pytorch-fp32", "psnr": base["psnr"], "ssim": base["ssim"], "psnr_vs_fp32": None,
             "rainy_psnr": base["rainy_psnr"], "drop_db": 0.0}]
    for label, path in artifacts.items():
        with DerainEngine(path, backend="onnxruntime-cpu", color="rgb") as engine:
            row = evaluate(engine.derain_rgb, frames, refs)[0]["medium"]
        rows.append({"artifact": label, "psnr": row["psnr"], "ssim": row["ssim"], "psnr_vs_fp32": row["psnr_vs_fp32"],
                     "drop_db": base["psnr"] - row["psnr"]})
    return rows


def format_fidelity(rows: list[dict]) -> str:
    lines = ["fidelity on held-out frames (road eval split + held-out photos), medium rain "
             f"(rainy input: {rows[0]['rainy_psnr']:.2f} dB PSNR vs clean)",
             f"{'artifact':<16}{'PSNR dB':>9}{'SSIM':>8}{'drop dB':>9}{'vs FP32 dB':>12}"]
    for i, r in enumerate(rows):
        vs = "ref" if r["psnr_vs_fp32"] is None else f"{r['psnr_vs_fp32']:.2f}"
        lines.append(f"{r['artifact']:<16}{r['psnr']:>9.2f}{r['ssim']:>8.4f}{r['drop_db']:>9.2f}{vs:>12}")
    return "\n".join(lines)


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


def run_export(req: ExportRequest, log=print) -> ExportResult:
    from .checkpoint import SHIPPED_CHECKPOINT, load_checkpoint
    from .onnx_export import check_parity, export_onnx, io_description
    from .quantize import (FrameCalibrationReader, calibration_hash, convert_fp16, find_calibration_dir,
                           load_calibration_frames, quantize_int8)


    out = ensure_output_dir(req.out_dir)
    result = ExportResult()
    t0 = time.time()
    ckpt = Path(req.checkpoint) if req.checkpoint else SHIPPED_CHECKPOINT
    model = load_checkpoint(ckpt)[0]
    source = {"file": ckpt.name, "sha256": sha256_file(ckpt), "kind": "checkpoint"}
    log(f"checkpoint {ckpt} ({model.cfg.name})")

    # Plans are only possible with TensorRT and a GPU: decide before spending minutes on the rest.
    from .tensorrt_build import tensorrt_available

    trt_ok, trt_reason = tensorrt_available()
    if req.backend == "tensorrt" and not trt_ok:
        raise ExportError(f"--backend tensorrt cannot build a plan here: {trt_reason}")

    # Inputs the later stages need are checked now, before anything is written.
    calib_dir = None
    if "int8" in req.precisions:
        calib_dir = Path(req.calib_dir) if req.calib_dir else find_calibration_dir()
        load_calibration_frames(calib_dir, 8, 8)  # decodes every frame: a bad one fails here, not after drn.onnx

    if req.prune_ratio:
        model, source = _prune_and_finetune(model, req, out, ckpt, log, result)

    _require_finite_weights(model, ckpt)
    fp32 = artifact_path(out, "fp32")
    export_onnx(model, fp32, req.spec)
    parity_frame = _eval_frames(req.spec)[0].rainy
    parity = check_parity(fp32, model, parity_frame if req.spec.fixed else parity_frame[:256, :384])
    if not parity.ok:
        fp32.unlink(missing_ok=True)
        raise ExportError(f"the exported graph does not reproduce the PyTorch model (mean |diff| {parity.mean_abs:.3g}, "
                          f"99.9th percentile {parity.p999_abs:.3g}; tolerances {parity.MEAN_TOLERANCE:g} and "
                          f"{parity.P999_TOLERANCE:g}); nothing was written. Report this with the checkpoint")
    log(f"wrote {fp32}: parity vs PyTorch on a real frame: mean |diff| {parity.mean_abs:.2e}, max {parity.max_abs:.2e}")
    base_meta = {"kind": "onnx", "spec": asdict(req.spec), "io": io_description(fp32), "model_config": model.cfg.to_dict()}
    rec = write_sidecar(fp32, {**base_meta, "precision": "fp32", "source": source, "parity_vs_pytorch": parity.as_dict()})
    fp32_src = {"file": fp32.name, "sha256": rec["sha256"], "kind": "onnx"}
    onnx_artifacts = {"onnx-fp32": fp32}
    result.artifacts["fp32"] = str(fp32)

    if "fp16" in req.precisions:
        p = convert_fp16(fp32, artifact_path(out, "fp16"))
        write_sidecar(p, {**base_meta, "precision": "fp16", "source": fp32_src})
        onnx_artifacts["onnx-fp16"] = p
        result.artifacts["fp16"] = str(p)
        log(f"wrote {p}")

    calib_record = None
    if "int8" in req.precisions:
        # Default: the calibration frames' own size. The net is fully convolutional, and collecting
        # ranges at 720x1280 would need ~10 GB of intermediate tensors per frame.
        h, w = req.calib_size or load_calibration_frames_size(calib_dir)
        frames = load_calibration_frames(calib_dir, h, w)
        calib_record = {"dir": str(calib_dir), "sha256": calibration_hash(calib_dir), "frames": len(frames),
                        "size": [h, w], "method": req.calib_method, "keep_float_edges": req.keep_float_edges}
        log(f"calibrating INT8 on {len(frames)} frames from {calib_dir} at {h}x{w} ({req.calib_method}) ...")
        reader = FrameCalibrationReader(frames, INPUT_NAME[req.spec.io], req.spec.io == "uint8")
        with tempfile.TemporaryDirectory() as work:
            twin = None
            if req.spec.fixed and (h, w) != (req.spec.height, req.spec.width):
                twin = export_onnx(model, Path(work) / "dynamic.onnx", ExportSpec(io=req.spec.io, opset=req.spec.opset))
            p = quantize_int8(fp32, artifact_path(out, "int8"), reader, req.calib_method, req.keep_float_edges,
                              calibration_graph=twin)
        write_sidecar(p, {**base_meta, "precision": "int8", "source": fp32_src, "calibration": calib_record})
        onnx_artifacts["onnx-int8"] = p
        result.artifacts["int8"] = str(p)
        log(f"wrote {p}")

    if req.fidelity:
        log("measuring fidelity on held-out frames ...")
        result.fidelity = fidelity_report(model, onnx_artifacts, req.spec)
        log(format_fidelity(result.fidelity))

    if req.backend in ("auto", "tensorrt"):
        if trt_ok:
            from .tensorrt_build import PlanSettings, build_plan

            hw = (req.spec.height, req.spec.width) if req.spec.fixed else (req.plan_size or (720, 1280))
            for prec in req.precisions:
                src = artifact_path(out, prec)
                settings = PlanSettings(prec, hw[0], hw[1], req.max_batch, req.workspace_gib, req.dla_core,
                                        req.timing_cache or str(out / "timing.cache"))
                plan = artifact_path(out, prec, "plan")
                build_plan(src, plan, settings, log=log)
                result.artifacts[f"plan-{prec}"] = str(plan)
                log(f"wrote {plan}")
        else:
            note = f"no TensorRT plan built: {trt_reason}. Copy {out}/ to the GPU machine and run drn-export --onnx there."
            result.notes.append(note)
            log(f"note: {note}")

    current = {Path(a).name: sha256_file(a) for a in result.artifacts.values()}
    for name in stale_artifacts(out, current):
        note = f"{out / name} is stale (made from another drn.onnx); delete it or re-export it"
        result.notes.append(note)
        log(f"warning: {note}")
    log(f"done in {time.time() - t0:.1f} s")
    return result


def _require_finite_weights(model, ckpt: Path) -> None:
    import torch

    bad = [n for n, p in model.state_dict().items() if p.is_floating_point() and not torch.isfinite(p).all()]
    if bad:
        raise ExportError(f"checkpoint '{ckpt}' has NaN or infinite weights in {len(bad)} tensor(s) (e.g. {bad[0]}); "
                          "training diverged or the file is damaged: export an earlier checkpoint")


def load_calibration_frames_size(folder: Path) -> tuple[int, int]:
    """Calibrate at the first frame's own size (rounded down to a multiple of 8) when the export is dynamic."""
    import cv2

    from .quantize import list_images

    img = cv2.imread(str(list_images(folder)[0]), cv2.IMREAD_COLOR)
    if img is None:
        from .errors import CalibrationError

        raise CalibrationError(f"cannot decode calibration image '{list_images(folder)[0]}'")
    return img.shape[0] - img.shape[0] % 8, img.shape[1] - img.shape[1] % 8


def _prune_and_finetune(model, req: ExportRequest, out: Path, ckpt: Path, log, result: ExportResult):
    from .checkpoint import save_checkpoint
    from .evaluate import evaluate, torch_derain
    from .prune import prune
    from .train import TrainConfig, train

    frames = _eval_frames(req.spec)
    before = evaluate(torch_derain(model), frames)[0]["medium"]["psnr"]
    pruned, report = prune(model, req.prune_ratio)
    log(f"pruned {req.prune_ratio:.0%}: params {report.params_before:,} -> {report.params_after:,}, "
        f"GMAC@720p {report.macs_720p_before / 1e9:.1f} -> {report.macs_720p_after / 1e9:.1f}")
    if req.finetune_steps > 0:
        tcfg = TrainConfig(out=str(out / "finetune"), steps=req.finetune_steps, lr=2e-4, warmup=20, overwrite=True,
                           val_every=max(req.finetune_steps, 1), save_every=max(req.finetune_steps, 1))
        pruned = _finetuned(train, tcfg, pruned)
    after = evaluate(torch_derain(pruned), frames)[0]["medium"]["psnr"]
    log(f"held-out medium-rain PSNR: {before:.2f} dB before pruning, {after:.2f} dB after pruning + "
        f"{req.finetune_steps} fine-tune steps")
    path = save_checkpoint(pruned, out / PRUNED_CHECKPOINT,
                           {"pruned_from": ckpt.name, "prune": report.as_dict(), "finetune_steps": req.finetune_steps,
                            "heldout_medium_psnr_before": before, "heldout_medium_psnr_after": after})
    result.prune = report.as_dict() | {"psnr_before": before, "psnr_after": after, "checkpoint": str(path)}
    result.artifacts["pruned-checkpoint"] = str(path)
    return pruned, {"file": path.name, "sha256": sha256_file(path), "kind": "checkpoint"}


def _finetuned(train, tcfg, model):
    from .checkpoint import load_checkpoint

    path = train(tcfg, model=model)
    return load_checkpoint(path)[0]


def run_plan_build(onnx_path: str, out_dir: str, precision: str | None = None, plan_size=None, workspace_gib: float = 2.0,
                   dla_core: int | None = None, timing_cache: str | None = None, max_batch: int = 1, log=print) -> Path:
    """Build one plan from an ONNX written by drn-export (its sidecar gives precision and size). Needs TensorRT."""
    from .sidecar import verify_artifact
    from .tensorrt_build import PlanSettings, build_plan, tensorrt_available

    ok, reason = tensorrt_available()
    if not ok:
        raise ExportError(f"cannot build a TensorRT plan here: {reason}")
    record = verify_artifact(onnx_path, required=True)
    prec = precision or record.get("precision", "fp32")
    spec = record.get("spec", {})
    hw = (spec.get("height"), spec.get("width")) if spec.get("height") else (plan_size or (720, 1280))
    out = Path(out_dir)
    settings = PlanSettings(prec, hw[0], hw[1], max_batch, workspace_gib, dla_core, timing_cache or str(out / "timing.cache"))
    plan = artifact_path(out, prec, "plan")
    build_plan(onnx_path, plan, settings, log=log)
    log(f"wrote {plan}")
    return plan
