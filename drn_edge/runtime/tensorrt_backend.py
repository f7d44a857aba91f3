"""TensorRT backend: deserialize a trusted .plan and run it with cuda-python (cuda.bindings).

Pinned host buffers, one CUDA stream and one execution context per thread (contexts are not
thread-safe), execute_async_v3 with tensor addresses, optional CUDA graph capture for fixed shapes.
Written to NVIDIA's documented TensorRT 10.x/11.x Python API; tensorrt and cuda-python are
imported only here, so the CPU path never needs them.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import threading
from pathlib import Path

import numpy as np

from drn_edge.errors import EngineError
from drn_edge.runtime.backend import EngineIO
from drn_edge.runtime.tensorrt_env import (  # noqa: F401
    UnsupportedTensorRT,
    call_cuda,
    check_tensorrt_version,
    cuda_check,
    current_gpu,
    import_cudart,
    import_tensorrt,
)
from drn_edge.sidecar import read_sidecar


def plan_compatibility_problems(record: dict, trt_version: str, gpu: dict) -> list[str]:
    """Why a plan built elsewhere must not run here (TensorRT plans are tied to version and GPU)."""
    problems = []
    built_trt = record.get("tensorrt_version")
    if built_trt != trt_version:
        problems.append(f"built with TensorRT {built_trt}, this machine has {trt_version}")
    built_gpu = record.get("gpu", {})
    if built_gpu.get("compute_capability") != gpu.get("compute_capability"):
        problems.append(f"built for compute capability {built_gpu.get('compute_capability')} "
                        f"({built_gpu.get('name')}), this GPU is {gpu.get('compute_capability')} ({gpu.get('name')})")
    elif built_gpu.get("name") != gpu.get("name"):
        problems.append(f"built on {built_gpu.get('name')}, this GPU is {gpu.get('name')}")
    return problems


def rebuild_hint(record: dict) -> str:
    src = record.get("source", {}).get("file", "drn.onnx")
    return f"rebuild it on this machine: drn-export --onnx {src} --backend tensorrt"


def verify_plan_file(path: str | os.PathLike) -> tuple[dict, bytes]:
    """Sidecar present, sha256 matches, and it describes a plan: checked without TensorRT.

    Returns the record and the very bytes that were hashed, so what TensorRT deserializes is what
    was checked (the file is read and hashed once).
    """
    record = read_sidecar(path, required=True)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise EngineError(f"cannot read plan '{path}': {exc.strerror or exc}") from None
    if hashlib.sha256(data).hexdigest() != record["sha256"]:
        raise EngineError(f"'{path}' does not match its sidecar's sha256; the file was changed, truncated or replaced. "
                          f"{rebuild_hint(record)}")
    if record.get("kind") != "tensorrt-plan":
        raise EngineError(f"sidecar of '{path}' does not describe a TensorRT plan (kind={record.get('kind')!r})")
    return record, data


def verify_plan(path: str | os.PathLike, trt_version: str, gpu: dict,
                checked: tuple[dict, bytes] | None = None) -> tuple[dict, bytes]:
    """All checks that happen before the plan's bytes reach TensorRT."""
    record, data = checked or verify_plan_file(path)
    problems = plan_compatibility_problems(record, trt_version, gpu)
    if problems:
        raise EngineError(f"refusing to load '{path}': " + "; ".join(problems) + "; " + rebuild_hint(record))
    return record, data


class _Context:
    """One execution context + stream + pinned/device buffers: used by one thread at a time."""

    def __init__(self, engine, trt, cudart, io: EngineIO, use_cuda_graph: bool):
        self.trt, self.cudart, self.io = trt, cudart, io
        self.context = engine.create_execution_context()
        if self.context is None:
            raise EngineError("TensorRT could not create an execution context (out of GPU memory?)")
        self.stream = cuda_check(cudart.cudaStreamCreate())
        self.engine = engine
        self.shape = None
        self.buffers: list = []
        self.use_cuda_graph = use_cuda_graph
        self.graph_exec, self.graph = None, None
        self.start_event = cuda_check(cudart.cudaEventCreate())
        self.end_event = cuda_check(cudart.cudaEventCreate())
        self.h2d_event = cuda_check(cudart.cudaEventCreate())    # after the copy in
        self.exec_event = cuda_check(cudart.cudaEventCreate())   # after inference, before the copy out
        self.last_compute_ms: float | None = None
        self.last_split_ms: dict[str, float] | None = None

    def _allocate(self, in_shape: tuple[int, ...]) -> None:
        """Buffers for one input shape. On any failure nothing stale survives: no buffers, no shape, no graph,
        so the next frame allocates afresh instead of running TensorRT into freed memory."""
        trt, cudart = self.trt, self.cudart
        self._free_buffers()
        self._destroy_graph()
        self.shape = None
        self.host, self.device = {}, {}
        try:
            if not self.context.set_input_shape(self.io.input_name, in_shape):
                raise EngineError(f"TensorRT rejected input shape {in_shape} (outside the plan's optimization profile)")
            out_shape = tuple(self.context.get_tensor_shape(self.io.output_name))
            for name, shape in ((self.io.input_name, in_shape), (self.io.output_name, out_shape)):
                dtype = np.dtype(trt.nptype(self.engine.get_tensor_dtype(name)))
                nbytes = int(np.prod(shape)) * dtype.itemsize
                host_ptr = cuda_check(cudart.cudaMallocHost(nbytes))
                try:
                    dev_ptr = cuda_check(cudart.cudaMalloc(nbytes))
                except BaseException:
                    cudart.cudaFreeHost(host_ptr)
                    raise
                self.buffers.append((host_ptr, dev_ptr))
                buf = (ctypes.c_byte * nbytes).from_address(int(host_ptr))
                self.host[name] = np.frombuffer(buf, dtype=dtype).reshape(shape)
                self.device[name] = (int(dev_ptr), nbytes)
                if not self.context.set_tensor_address(name, int(dev_ptr)):
                    raise EngineError(f"TensorRT rejected the device address of tensor '{name}'")
        except BaseException:
            self._free_buffers()
            self.host, self.device = {}, {}
            raise
        self.shape = in_shape

    def _enqueue(self) -> None:
        cudart = self.cudart
        H2D, D2H = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        i, o = self.io.input_name, self.io.output_name
        cuda_check(cudart.cudaMemcpyAsync(self.device[i][0], self.host[i].ctypes.data, self.device[i][1], H2D, self.stream))
        cuda_check(cudart.cudaEventRecord(self.h2d_event, self.stream))
        if not self.context.execute_async_v3(self.stream):
            raise EngineError("TensorRT execute_async_v3 failed")
        cuda_check(cudart.cudaEventRecord(self.exec_event, self.stream))
        cuda_check(cudart.cudaMemcpyAsync(self.host[o].ctypes.data, self.device[o][0], self.device[o][1], D2H, self.stream))

    def run(self, batch: np.ndarray) -> np.ndarray:
        cudart = self.cudart
        if self.shape != batch.shape:
            self._allocate(batch.shape)
            self._enqueue()  # first run outside capture: TensorRT allocates lazily
        np.copyto(self.host[self.io.input_name], batch)
        cuda_check(cudart.cudaEventRecord(self.start_event, self.stream))
        if self.use_cuda_graph:
            if self.graph_exec is None:
                self._capture()
            cuda_check(cudart.cudaGraphLaunch(self.graph_exec, self.stream))
        else:
            self._enqueue()
        cuda_check(cudart.cudaEventRecord(self.end_event, self.stream))
        cuda_check(cudart.cudaStreamSynchronize(self.stream))
        # GPU time of copy-in, inference and copy-out, measured with CUDA events (no host overhead).
        self.last_compute_ms = float(cuda_check(cudart.cudaEventElapsedTime(self.start_event, self.end_event)))
        elapsed = lambda a, b: float(cuda_check(cudart.cudaEventElapsedTime(a, b)))  # noqa: E731
        self.last_split_ms = {"h2d": elapsed(self.start_event, self.h2d_event),
                              "compute": elapsed(self.h2d_event, self.exec_event),
                              "d2h": elapsed(self.exec_event, self.end_event)}
        return self.host[self.io.output_name].copy()

    def _capture(self) -> None:
        """Capture the enqueue as a CUDA graph; capture is always ended, even when enqueueing fails
        (a stream left in capture mode would fail every later call), and a failed capture leaves no graph."""
        cudart = self.cudart
        mode = cudart.cudaStreamCaptureMode.cudaStreamCaptureModeThreadLocal
        cuda_check(cudart.cudaStreamBeginCapture(self.stream, mode))
        try:
            self._enqueue()
        except BaseException:
            err, graph = cudart.cudaStreamEndCapture(self.stream)
            if int(err) == 0 and graph:
                cudart.cudaGraphDestroy(graph)
            raise
        self.graph = cuda_check(cudart.cudaStreamEndCapture(self.stream))
        try:
            self.graph_exec = cuda_check(cudart.cudaGraphInstantiate(self.graph, 0))
        except BaseException:
            self._destroy_graph()  # the next frame captures afresh; the failed graph must not leak
            raise

    def _destroy_graph(self) -> None:
        if getattr(self, "graph_exec", None) is not None:
            self.cudart.cudaGraphExecDestroy(self.graph_exec)
        if getattr(self, "graph", None) is not None:
            self.cudart.cudaGraphDestroy(self.graph)
        self.graph_exec, self.graph = None, None

    def _free_buffers(self) -> None:
        for host_ptr, dev_ptr in self.buffers:
            self.cudart.cudaFreeHost(host_ptr)
            self.cudart.cudaFree(dev_ptr)
        self.buffers = []

    def close(self) -> None:
        self._destroy_graph()
        self._free_buffers()
        self.cudart.cudaEventDestroy(self.start_event)
        self.cudart.cudaEventDestroy(self.h2d_event)
        self.cudart.cudaEventDestroy(self.exec_event)
        self.cudart.cudaEventDestroy(self.end_event)
        if self.stream is not None:
            self.cudart.cudaStreamDestroy(self.stream)
            self.stream = None
        self.context = None


class TensorRTBackend:
    def __init__(self, path: str | os.PathLike, use_cuda_graph: bool = False):
        checked = verify_plan_file(path)  # before importing TensorRT: a bad sidecar is reported even without it
        trt, cudart = import_tensorrt(), import_cudart()
        check_tensorrt_version(trt.__version__)  # UnsupportedTensorRT is an EngineError too
        self.record, data = verify_plan(path, trt.__version__, current_gpu(), checked)
        self.trt, self.cudart = trt, cudart
        self.logger = trt.Logger(trt.Logger.WARNING)
        self.runtime = trt.Runtime(self.logger)
        self.engine = self.runtime.deserialize_cuda_engine(data)
        if self.engine is None:
            raise EngineError(f"TensorRT could not deserialize '{path}'; {rebuild_hint(self.record)}")
        self.io = self._io_from_plan(path)
        self.name = f"tensorrt:{trt.__version__}"
        self.use_cuda_graph = use_cuda_graph
        self._local = threading.local()
        self._contexts: list[_Context] = []
        self._lock = threading.Lock()

    def _io_from_plan(self, path) -> EngineIO:
        """Tensor names, dtype, fixed size and max batch read from the deserialized plan itself; the sidecar must
        agree (a sidecar claiming another batch or size is refused, never trusted)."""
        trt, eng = self.trt, self.engine
        names = [eng.get_tensor_name(i) for i in range(eng.num_io_tensors)]
        if len(names) != 2:
            raise EngineError(f"'{path}' has {len(names)} I/O tensors, not a DRN plan (one input, one output)")
        inp, out = names
        uint8 = eng.get_tensor_dtype(inp) == trt.DataType.UINT8
        lo, _, hi = (tuple(int(v) for v in s) for s in eng.get_tensor_profile_shape(inp, 0))
        hw_axes = (1, 2) if uint8 else (2, 3)
        fixed = all(lo[a] == hi[a] for a in hw_axes)
        h, w = (hi[hw_axes[0]], hi[hw_axes[1]]) if fixed else (None, None)
        io = EngineIO(inp, out, uint8, h, w, hi[0])
        try:
            side = self.record["io"]["inputs"][0]
            claims = (side["name"], self.record["io"]["outputs"][0]["name"], side["dtype"] == "uint8",
                      int(self.record.get("profile", {}).get("max_batch", hi[0])))
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise EngineError(f"the sidecar of '{path}' is malformed ({type(exc).__name__}: {exc}); rebuild the plan "
                              "with drn-export --onnx") from None
        if claims != (inp, out, uint8, hi[0]):
            raise EngineError(f"the sidecar of '{path}' does not describe this plan: it claims I/O {claims[:2]}, uint8 "
                              f"{claims[2]}, max batch {claims[3]}; the plan has {inp!r}/{out!r}, uint8 {uint8}, max batch "
                              f"{hi[0]}. Rebuild the plan with drn-export --onnx")
        return io

    @property
    def last_compute_ms(self) -> float | None:
        ctx = getattr(self._local, "ctx", None)
        return None if ctx is None else ctx.last_compute_ms

    @property
    def last_split_ms(self) -> dict[str, float] | None:
        """Host-to-device copy, inference and device-to-host copy of this thread's last run (CUDA events)."""
        ctx = getattr(self._local, "ctx", None)
        return None if ctx is None else ctx.last_split_ms

    def run(self, batch: np.ndarray) -> np.ndarray:
        ctx = getattr(self._local, "ctx", None)
        if ctx is None:
            ctx = _Context(self.engine, self.trt, self.cudart, self.io, self.use_cuda_graph)
            self._local.ctx = ctx
            with self._lock:
                self._contexts.append(ctx)
        return ctx.run(batch)

    def close(self) -> None:
        with self._lock:
            for ctx in self._contexts:
                ctx.close()
            self._contexts = []
        self.engine = None
        self.runtime = None
