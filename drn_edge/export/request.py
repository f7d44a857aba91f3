"""What drn-export is asked to do: a nested, typed request, and target presets that produce one.

Presets are requests with defaults, not dicts merged in the CLI: `build_request(preset, given)`
applies a preset, then every explicitly given option on top, and returns notes that say which
option overrode what, so the effective request can be printed before any work starts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from drn_edge.artifacts import PRECISIONS
from drn_edge.checks import MAX_SIDE, MIN_SIDE, items
from drn_edge.errors import ExportError
from drn_edge.export.calibration import CALIB_MAX_PIXELS
from drn_edge.export.quantize import CALIBRATION_METHODS
from drn_edge.onnx_spec import INPUT_NAME, ExportSpec
from drn_edge.outputs import loads_bounded

__all__ = ["ModelSource", "Calibration", "PlanRequest", "ExportRequest", "Preset", "build_request", "preset_names",
           "EXPORT_BACKENDS", "DEFAULT_PLAN_SIZE"]

EXPORT_BACKENDS = ("auto", "onnx", "tensorrt")  # drn-export --backend: ONNX only, or TensorRT plans too (runtime.BACKENDS
                                               # are the engine's inference backends: another list, another name)
DEFAULT_PLAN_SIZE = (720, 1280)  # the TensorRT profile of a dynamic ONNX when --plan-size is not given
PRESET_DIR = Path(__file__).parent / "presets"


def _check_size(size, flag: str) -> None:
    if size is not None and (len(size) != 2 or min(size) < MIN_SIDE or size[0] % 8 or size[1] % 8 or max(size) > MAX_SIDE):
        raise ExportError(f"{flag} must be HxW with positive multiples of 8 up to {MAX_SIDE}, got {size}")


@dataclass(frozen=True)
class ModelSource:
    checkpoint: str | None = None          # None: the shipped checkpoint
    prune_ratio: float | None = None
    finetune_steps: int = 300

    def __post_init__(self) -> None:
        if self.prune_ratio is not None and not 0 < self.prune_ratio < 1:
            raise ExportError(f"--prune takes a fraction of channels to remove in (0, 1), got {self.prune_ratio}")
        if self.finetune_steps < 0:
            raise ExportError(f"--finetune-steps must be >= 0, got {self.finetune_steps}")


CALIBRATION_RAIN = ("add", "none")


@dataclass(frozen=True)
class Calibration:
    dir: str | None = None                 # None: the shipped INT8 ranges (shipped checkpoints only)
    method: str = "percentile"
    size: tuple[int, int] | None = None    # None: the export size, else the frames' own size
    keep_float_edges: bool = False
    rain: str = "add"                      # add: the project's rain over --calib frames (seeded); none: already rainy

    def __post_init__(self) -> None:
        if self.rain not in CALIBRATION_RAIN:
            raise ExportError(f"--calib-rain must be one of {', '.join(CALIBRATION_RAIN)}, got {self.rain!r}")
        if self.method not in CALIBRATION_METHODS:
            raise ExportError(f"--calib-method must be one of {CALIBRATION_METHODS}, got {self.method!r}")
        _check_size(self.size, "--calib-size")

        if self.size is not None and self.size[0] * self.size[1] > CALIB_MAX_PIXELS:
            raise ExportError(f"--calib-size {self.size[0]}x{self.size[1]} is above the calibration cap of "
                              f"{CALIB_MAX_PIXELS:,} pixels (collecting ranges holds ~13 KB per pixel per frame for "
                              "drn_base); the ranges carry over to any export size, so calibrate at e.g. 240x320")


@dataclass(frozen=True)
class PlanRequest:
    backend: str = "auto"
    workspace_gib: float = 2.0
    dla_core: int | None = None
    timing_cache: str | None = None
    max_batch: int = 1
    size: tuple[int, int] | None = None    # profile size for a dynamic ONNX (default DEFAULT_PLAN_SIZE)

    def __post_init__(self) -> None:
        if self.backend not in EXPORT_BACKENDS:
            raise ExportError(f"--backend must be one of {EXPORT_BACKENDS}, got {self.backend!r}")
        if not (math.isfinite(self.workspace_gib) and 0 < self.workspace_gib <= 1024):
            raise ExportError(f"--workspace must be a number of GiB in (0, 1024], got {self.workspace_gib}")
        if not 1 <= self.max_batch <= 256:
            raise ExportError(f"--max-batch must be between 1 and 256, got {self.max_batch}")
        if self.dla_core is not None and self.dla_core < 0:
            raise ExportError(f"--dla-core must be >= 0, got {self.dla_core}")
        _check_size(self.size, "--plan-size")


@dataclass(frozen=True)
class ExportRequest:
    out_dir: str = "drn_export"
    model: ModelSource = ModelSource()
    spec: ExportSpec = ExportSpec()
    precisions: tuple[str, ...] = ("fp32",)
    calibration: Calibration = Calibration()
    plan: PlanRequest = PlanRequest()
    fidelity: bool = True
    threads: int | None = None
    preset: str | None = None
    overwrite: bool = False                # replace an export of another checkpoint in out_dir
    allow_drop: bool = False               # keep an artifact whose fidelity drop exceeds MAX_DROP_DB (with a warning)

    def __post_init__(self) -> None:
        items(self, "precisions", "precisions", kinds=(str,), error=ExportError)
        bad = set(self.precisions) - set(PRECISIONS)
        if bad:
            raise ExportError(f"unknown precision(s) {sorted(bad)}; choose from {', '.join(PRECISIONS)}")
        if self.threads is not None and self.threads < 1:
            raise ExportError(f"--threads must be at least 1, got {self.threads}")

    def describe(self) -> str:
        """The effective request, as it will run (printed before any work)."""
        size = f"{self.spec.height}x{self.spec.width}" if self.spec.fixed else "dynamic HxW (multiples of 8)"
        prune = (f"remove {self.model.prune_ratio:.0%} of channels, then {self.model.finetune_steps} fine-tune steps"
                 if self.model.prune_ratio else "none")
        lines = [f"  source      {self.model.checkpoint or 'shipped checkpoint'}",
                 f"  preset      {self.preset or 'none'}",
                 f"  size        {size}",
                 f"  I/O         {self.spec.io} (input '{INPUT_NAME[self.spec.io]}')",
                 f"  precisions  {', '.join(self.precisions)}",
                 f"  pruning     {prune}"]
        if "int8" in self.precisions:
            c = self.calibration
            lines.append(f"  calibration {c.dir or 'shipped INT8 ranges'}, {c.method}"
                         + (f", at {c.size[0]}x{c.size[1]}" if c.size else "")
                         + (", first/last conv in float" if c.keep_float_edges else "")
                         + ("" if not c.dir else ", the project's rain drawn over the frames (seeded; --calib-rain none "
                            "for frames that are already rainy)" if c.rain == "add" else ", frames used as they are"))
        p = self.plan
        lines.append(f"  plans       backend {p.backend}, workspace {p.workspace_gib:g} GiB, max batch {p.max_batch}"
                     + (f", DLA core {p.dla_core}" if p.dla_core is not None else ""))
        lines.append(f"  output      {self.out_dir}/")
        return "\n".join(lines)


@dataclass(frozen=True)
class Preset:
    """A target: the export size, I/O, precision, pruning and plan settings that suit it."""

    name: str
    description: str
    height: int | None = None
    width: int | None = None
    io: str = "float"
    precision: str = "fp32"
    prune: float | None = None
    workspace_gib: float = 2.0
    dla_core: int | None = None
    backend: str = "auto"
    checkpoint: str | None = None   # e.g. "drn_edge": the shipped edge variant (a --checkpoint you give wins)
    extra: dict = field(default_factory=dict, compare=False)

    @classmethod
    def load(cls, name: str) -> Preset:
        """A shipped preset by name; only the names in drn_edge/export/presets/ (never a path)."""
        if name not in preset_names():
            raise ExportError(f"unknown preset {name!r}; available: {', '.join(preset_names())}")
        data = loads_bounded((PRESET_DIR / f"{name}.json").read_text(), f"preset {name}")
        known = {f.name for f in fields(cls)} - {"name", "extra"}
        return cls(name=name, **{k: v for k, v in data.items() if k in known})


def preset_names() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.json"))


def build_request(preset: Preset | None, given: dict[str, Any]) -> tuple[ExportRequest, list[str]]:
    """The request: defaults, then the preset, then every option in `given` (only what the user typed).

    Keys of `given`: out_dir, checkpoint, size, io, opset, fp16, int8, prune, finetune_steps, calib_dir,
    calib_method, calib_size, keep_float_edges, backend, workspace_gib, dla_core, timing_cache,
    max_batch, plan_size, fidelity, threads. Returns the request and notes on overridden preset values.
    """
    notes: list[str] = []
    base: dict[str, Any] = {}
    if preset:
        base = {"checkpoint": preset.checkpoint,
                "size": (preset.height, preset.width) if preset.height else None, "io": preset.io,
                "prune": preset.prune, "workspace_gib": preset.workspace_gib, "dla_core": preset.dla_core,
                "backend": preset.backend}
        for key, value in given.items():
            if key in base and base[key] is not None and base[key] != value:
                notes.append(f"--{key.replace('_gib', '').replace('_', '-')} {_show(value)} overrides preset "
                             f"{preset.name}'s {_show(base[key])}")
    eff = {**base, **given}
    precisions = ["fp32"] + [p for p in ("fp16", "int8") if eff.get(p)]
    if preset and not (eff.get("fp16") or eff.get("int8")) and preset.precision != "fp32":
        precisions.append(preset.precision)
    elif preset and preset.precision not in precisions:
        notes.append(f"--fp16/--int8 given: preset {preset.name}'s precision {preset.precision} is not added")
    size = eff.get("size")
    req = ExportRequest(
        out_dir=eff.get("out_dir", "drn_export"),
        model=ModelSource(eff.get("checkpoint"), eff.get("prune"), eff.get("finetune_steps", 300)),
        spec=ExportSpec(size[0] if size else None, size[1] if size else None, eff.get("io") or "float",
                        eff.get("opset", 17)),
        precisions=tuple(precisions),
        calibration=Calibration(eff.get("calib_dir"), eff.get("calib_method", "percentile"), eff.get("calib_size"),
                                eff.get("keep_float_edges", False), eff.get("calib_rain", "add")),
        plan=PlanRequest(eff.get("backend") or "auto", eff.get("workspace_gib", 2.0), eff.get("dla_core"),
                         eff.get("timing_cache"), eff.get("max_batch", 1), eff.get("plan_size")),
        fidelity=eff.get("fidelity", True), threads=eff.get("threads"), preset=preset.name if preset else None,
        overwrite=eff.get("overwrite", False), allow_drop=eff.get("allow_drop", False))
    return req, notes


def _show(value) -> str:
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    return "none" if value is None else str(value)
