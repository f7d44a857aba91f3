"""The machine a benchmark ran on (CPU, cores, library versions, GPU and clocks, Jetson power mode) and its memory."""
from __future__ import annotations

import os
import platform
import resource
import subprocess
import sys
from pathlib import Path

from drn_edge.runtime.tensorrt_env import jetson_l4t_release


def _cmd(args: list[str]) -> str | None:
    try:
        out = subprocess.run(args, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def environment() -> dict:
    env: dict = {"python": platform.python_version(), "machine": platform.machine(), "system": platform.platform()}
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    env["cpu"] = cpu or platform.processor() or None
    env["cores"] = os.cpu_count()
    env["cores_usable"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    versions = {}
    for mod in ("numpy", "cv2", "onnxruntime", "onnx", "torch", "tensorrt"):
        if mod in ("torch", "tensorrt") and mod not in sys.modules:
            try:
                __import__(mod)
            except ImportError:
                continue
        m = sys.modules.get(mod)
        if m is None:
            try:
                m = __import__(mod)
            except ImportError:
                continue
        versions[mod] = getattr(m, "__version__", "?")
    env["versions"] = versions
    try:
        import onnxruntime

        env["onnxruntime_providers"] = onnxruntime.get_available_providers()
    except ImportError:
        pass
    if "torch" in sys.modules:
        env["torch_threads"] = sys.modules["torch"].get_num_threads()
    env["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS")
    smi = _cmd(["nvidia-smi", "--query-gpu=name,clocks.sm,clocks.max.sm,clocks.mem,memory.total,driver_version",
                "--format=csv,noheader"])
    env["gpu"] = smi
    env["jetson_l4t"] = jetson_l4t_release()
    env["jetson_power_mode"] = _cmd(["nvpmodel", "-q"]) if env["jetson_l4t"] else None
    return env


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def gpu_memory_used_mb() -> float | None:
    try:
        # lazy: pulls in numpy, which importing this module does not
        from drn_edge.runtime.tensorrt_backend import cuda_check, import_cudart

        free, total = cuda_check(import_cudart().cudaMemGetInfo())
        return (total - free) / 2**20
    except Exception:
        return None
