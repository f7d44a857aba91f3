"""The TensorRT / cuda-python environment, torch-free: what both the plan builder and the runtime backend need.

Imports of tensorrt and cuda-python (lazy), CUDA error naming, the current GPU, the supported TensorRT
versions and the Jetson L4T release. Both sides import from here, so neither imports the other.
"""
from __future__ import annotations

from pathlib import Path

from drn_edge.errors import EngineError, ExportError, MissingDependencyError

__all__ = ["UnsupportedTensorRT", "import_tensorrt", "import_cudart", "cuda_check", "call_cuda", "current_gpu",
           "jetson_l4t_release", "SUPPORTED_TENSORRT", "check_tensorrt_version"]


class UnsupportedTensorRT(ExportError, EngineError):
    """This TensorRT cannot be used: an export error to the plan builder and an engine error to the runtime."""


def import_tensorrt():
    try:
        import tensorrt as trt
    except ImportError:
        raise MissingDependencyError("tensorrt", "tensorrt", "running .plan engines") from None
    return trt


def import_cudart():
    try:
        from cuda.bindings import runtime as cudart
    except ImportError:
        try:
            from cuda import cudart  # cuda-python < 12.6 layout
        except ImportError:
            raise MissingDependencyError("cuda-python", "tensorrt", "running .plan engines") from None
    return cudart


def cuda_check(result):
    """cuda-python returns (err, *values); turn a non-zero err into an EngineError naming the error."""
    err, *values = result if isinstance(result, tuple) else (result,)
    if int(err) != 0:
        raise EngineError(f"CUDA call failed: {cuda_error_text(err)}")
    return values[0] if len(values) == 1 else values


def cuda_error_text(err) -> str:
    """'cudaErrorMemoryAllocation (out of memory)' rather than a bare number."""
    try:
        cudart = import_cudart()
        name = cudart.cudaGetErrorName(err)[1]
        text = cudart.cudaGetErrorString(err)[1]
        name = name.decode() if isinstance(name, bytes) else str(name)
        text = text.decode() if isinstance(text, bytes) else str(text)
        return f"{name} ({text})"
    except Exception:  # no driver, or an old binding: the number is all there is
        return f"error {int(err)}"


def call_cuda(fn, *args):
    """A cuda-python call whose own failures (cuda-python 12.6 raises RuntimeError without a driver) stay EngineErrors."""
    try:
        return cuda_check(fn(*args))
    except EngineError:
        raise
    except RuntimeError as exc:
        raise EngineError(f"CUDA is not usable here: {exc}; check the NVIDIA driver (nvidia-smi)") from None


def current_gpu() -> dict:
    cudart = import_cudart()
    props = call_cuda(cudart.cudaGetDeviceProperties, 0)
    name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
    return {"name": name.strip("\x00 "), "compute_capability": f"{props.major}.{props.minor}"}


def jetson_l4t_release() -> str | None:
    """'R36 (release), REVISION: 4.0' style string from /etc/nv_tegra_release on a Jetson, else None."""
    p = Path("/etc/nv_tegra_release")
    try:
        return p.read_text().splitlines()[0].lstrip("# ").strip() if p.is_file() else None
    except OSError:
        return None


SUPPORTED_TENSORRT = (10, 11)  # 10.3 is JetPack 6's; 11.x is strongly typed only


def check_tensorrt_version(version: str) -> None:
    try:
        major, minor = (int(v) for v in version.split(".")[:2])
    except ValueError:
        raise UnsupportedTensorRT(f"cannot read the TensorRT version {version!r}") from None
    if major not in SUPPORTED_TENSORRT or (major == 10 and minor < 3):
        raise UnsupportedTensorRT(f"TensorRT {version} is not supported: drn-edge needs TensorRT 10.3 or later 10.x (JetPack 6, "
                          "x86 CUDA 12) or 11.x (x86 CUDA 13). Install a supported version (see the README's table)")


