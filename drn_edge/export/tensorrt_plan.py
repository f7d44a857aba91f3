"""ONNX -> TensorRT plan (GPU machines only) and the plan's provenance sidecar.

TensorRT 10.x (JetPack 6 ships 10.3): weakly typed network, precision from builder flags
(fp16: FP16; int8: INT8 + FP16 for the layers the QDQ graph leaves in float).
TensorRT 11.x: the FP16/INT8 flags are gone; networks are strongly typed, so precision comes
from the ONNX itself (drn.fp16.onnx, drn.int8.onnx).
tensorrt is imported lazily: everything else in drn-edge works without it.
"""
from __future__ import annotations

import os
import platform
from dataclasses import asdict, dataclass
from pathlib import Path

from drn_edge.artifacts import PRECISIONS
from drn_edge.errors import ExportError, MissingDependencyError
from drn_edge.onnx_spec import graph_precision, io_description, io_shape
from drn_edge.outputs import sha256_file, write_bytes
from drn_edge.runtime.tensorrt_env import check_tensorrt_version, current_gpu, jetson_l4t_release
from drn_edge.sidecar import read_sidecar, write_sidecar


@dataclass(frozen=True)
class PlanSettings:
    precision: str = "fp16"
    height: int = 720
    width: int = 1280
    max_batch: int = 1
    workspace_gib: float = 2.0
    dla_core: int | None = None
    timing_cache: str | None = None

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise ExportError(f"precision must be one of {PRECISIONS}, got {self.precision!r}")
        if self.height % 8 or self.width % 8:
            raise ExportError(f"TensorRT profile size must be a multiple of 8, got {self.height}x{self.width}")
        if self.max_batch < 1 or self.workspace_gib <= 0:
            raise ExportError("max_batch must be >= 1 and workspace must be positive")


def tensorrt_available() -> tuple[bool, str]:
    """(usable, reason): TensorRT importable and a CUDA GPU visible."""
    try:
        import tensorrt as trt
    except ImportError:
        return False, "the 'tensorrt' package is not installed (pip install 'drn-edge[tensorrt]' on a CUDA machine, or use a JetPack image)"
    try:
        current_gpu()
    except Exception as exc:  # no driver / no GPU
        return False, f"TensorRT {trt.__version__} is installed but no CUDA GPU is usable ({exc})"
    return True, f"TensorRT {trt.__version__}"


def _precision_and_device(trt, builder, config, settings: PlanSettings, legacy_flags: bool) -> None:
    """TensorRT 10's precision flags (11 takes precision from the ONNX), and the DLA core when asked for."""
    if legacy_flags:
        if settings.precision in ("fp16", "int8"):
            config.set_flag(trt.BuilderFlag.FP16)
        if settings.precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)
    if settings.dla_core is not None:
        if builder.num_DLA_cores == 0:
            raise ExportError(f"--dla-core {settings.dla_core} asked for, but this device has no DLA cores")
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = settings.dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)


def _timing_cache(config, path: str | None, log):
    """The timing cache from `path` set on the config (None without one). A cache from another GPU or TensorRT
    version is rejected: the build goes on without it, and the stale one is not written back over the file."""
    if not path:
        return None
    blob = Path(path).read_bytes() if Path(path).is_file() else b""
    cache = config.create_timing_cache(blob)
    if not config.set_timing_cache(cache, ignore_mismatch=False):
        log(f"note: timing cache '{path}' was made by another GPU or TensorRT version; building without it and "
            "starting a fresh cache")
        cache = config.create_timing_cache(b"")
        config.set_timing_cache(cache, ignore_mismatch=False)
    return cache


def build_plan(onnx_path: str | os.PathLike, plan_path: str | os.PathLike, settings: PlanSettings,
               log=print) -> dict:
    """Build and write PLAN atomically with PLAN.json; return the sidecar record."""
    try:
        import tensorrt as trt
    except ImportError:
        raise MissingDependencyError("tensorrt", "tensorrt", "building a TensorRT plan") from None

    check_tensorrt_version(trt.__version__)
    major = int(trt.__version__.split(".")[0])
    legacy_flags = major < 11 and hasattr(trt.BuilderFlag, "FP16")
    if not legacy_flags:
        # Strongly typed (TensorRT 11): precision comes from the ONNX alone. A request the ONNX cannot
        # express is refused, never built as FP32 and labelled otherwise.

        onnx_precision = graph_precision(onnx_path)
        if onnx_precision != settings.precision:
            how = "drn-export (FP32 is its default)" if settings.precision == "fp32" else f"drn-export --{settings.precision}"
            raise ExportError(f"TensorRT {trt.__version__} builds strongly typed networks: a {settings.precision} plan "
                              f"needs a {settings.precision} ONNX, but '{onnx_path}' computes in {onnx_precision}; "
                              f"export one with {how} and build from that file")
    gpu = current_gpu()
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 0 if legacy_flags else (1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(Path(onnx_path).read_bytes()):
        errors = [str(parser.get_error(i)) for i in range(parser.num_errors)]
        raise ExportError(f"TensorRT's ONNX parser rejected '{onnx_path}': {errors[:3]}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(settings.workspace_gib * (1 << 30)))
    _precision_and_device(trt, builder, config, settings, legacy_flags)
    io = io_description(onnx_path)
    inp = io["inputs"][0]
    mode = "uint8" if inp["dtype"] == "uint8" else "float"
    profile = builder.create_optimization_profile()

    def shape(n: int) -> tuple:
        return io_shape(mode, n, settings.height, settings.width)

    profile.set_shape(inp["name"], shape(1), shape(settings.max_batch), shape(settings.max_batch))
    config.add_optimization_profile(profile)
    cache = _timing_cache(config, settings.timing_cache, log)
    log(f"building TensorRT {trt.__version__} plan ({settings.precision}, {settings.height}x{settings.width}, "
        f"batch<={settings.max_batch}) on {gpu['name']} ...")
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError("TensorRT failed to build the plan; see the TensorRT log above")
    write_bytes(plan_path, bytes(serialized))
    if cache is not None:
        write_bytes(settings.timing_cache, bytes(cache.serialize()))
    source = read_sidecar(onnx_path, required=False) or {}
    io["inputs"][0]["shape"] = list(shape(settings.max_batch))
    record = write_sidecar(plan_path, {
        "kind": "tensorrt-plan",
        "precision": settings.precision,
        "io": io,
        "profile": {"min": list(shape(1)), "opt": list(shape(settings.max_batch)), "max": list(shape(settings.max_batch)),
                    "max_batch": settings.max_batch},
        "tensorrt_version": trt.__version__,
        "gpu": gpu,
        "l4t": jetson_l4t_release(),
        "host": platform.machine(),
        "settings": asdict(settings),
        "source": {"file": Path(onnx_path).name, "sha256": sha256_file(onnx_path)},
        "calibration": source.get("calibration"),
    })
    return record


__all__ = ["PlanSettings", "build_plan", "tensorrt_available", "jetson_l4t_release", "PRECISIONS"]
