"""A strict stand-in for cuda-python's `cuda.bindings.runtime` (12.6.x and 13.x): device memory on the host.

Only the calls drn-edge makes exist, each with the real binding's name and parameters (cuda-python's
runtime.pyx); anything else raises AttributeError, a wrong number of arguments TypeError. Every call
returns the real tuple shape: (cudaError_t, *values). The CUDA semantics the TensorRT backend relies
on are emulated, because they are where its defects would show:

- device memory is a table of live allocations: a copy or a kernel touching a freed or foreign
  address fails with cudaErrorIllegalAddress at the next synchronize (sticky, as on a GPU);
- work on a stream is queued and runs at cudaStreamSynchronize, in order;
- a capturing stream records instead of running; capture must be ended before the stream can be
  synchronized or captured again; graphs and graph execs are counted until destroyed;
- `fail_malloc_at` / `fail_graph_instantiate` inject failures.

This checks plumbing only: nothing here says anything about a real GPU's numerics or speed.
"""
from __future__ import annotations

import ctypes
import enum
import itertools
import time
import types


class cudaError_t(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorMemoryAllocation = 2
    cudaErrorInvalidResourceHandle = 400
    cudaErrorIllegalState = 401
    cudaErrorIllegalAddress = 700
    cudaErrorStreamCaptureUnsupported = 900
    cudaErrorStreamCaptureInvalidated = 901
    cudaErrorStreamCaptureUnmatched = 903


class cudaMemcpyKind(enum.IntEnum):
    cudaMemcpyHostToHost = 0
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2
    cudaMemcpyDeviceToDevice = 3
    cudaMemcpyDefault = 4


class cudaStreamCaptureMode(enum.IntEnum):
    cudaStreamCaptureModeGlobal = 0
    cudaStreamCaptureModeThreadLocal = 1
    cudaStreamCaptureModeRelaxed = 2


ERROR_TEXT = {
    cudaError_t.cudaSuccess: "no error",
    cudaError_t.cudaErrorInvalidValue: "invalid argument",
    cudaError_t.cudaErrorMemoryAllocation: "out of memory",
    cudaError_t.cudaErrorInvalidResourceHandle: "invalid resource handle",
    cudaError_t.cudaErrorIllegalState: "the operation cannot be performed in the present state",
    cudaError_t.cudaErrorIllegalAddress: "an illegal memory access was encountered",
    cudaError_t.cudaErrorStreamCaptureUnsupported: "operation not permitted when stream is capturing",
    cudaError_t.cudaErrorStreamCaptureInvalidated: "operation failed due to a previous error during capture",
    cudaError_t.cudaErrorStreamCaptureUnmatched: "the capture was not initiated in this stream",
}


class _Handle:
    """cudaStream_t / cudaEvent_t / cudaGraph_t / cudaGraphExec_t: opaque, int() gives the address."""

    __slots__ = ("_ptr", "state")
    _ids = itertools.count(0x7A000000)

    def __init__(self, state=None):
        self._ptr = next(self._ids)
        self.state = state

    def __int__(self) -> int:
        return self._ptr

    def getPtr(self) -> int:
        return self._ptr


class cudaStream_t(_Handle):
    __slots__ = ()


class cudaEvent_t(_Handle):
    __slots__ = ()


class cudaGraph_t(_Handle):
    __slots__ = ()


class cudaGraphExec_t(_Handle):
    __slots__ = ()


class cudaDeviceProp:
    __slots__ = ("name", "major", "minor", "totalGlobalMem")

    def __init__(self):
        self.name = b"NVIDIA H100 80GB HBM3 (stand-in)" + b"\x00" * 8
        self.major, self.minor, self.totalGlobalMem = 9, 0, 80 << 30


class Device:
    """The emulated GPU: allocations, streams, counters and failure injection (one per test)."""

    def __init__(self):
        self.device_mem: dict[int, bytearray] = {}
        self.host_mem: dict[int, ctypes.Array] = {}
        self.freed_host: dict[int, ctypes.Array] = {}  # kept alive so a stale pointer never segfaults the test
        self._next_dev = 0x7F0000000000
        self.malloc_calls = 0
        self.fail_malloc_at: int | None = None   # the Nth cudaMalloc (1-based) returns out-of-memory
        self.fail_graph_instantiate = False
        self.live_graphs = 0
        self.live_graph_execs = 0
        self.live_streams = 0
        self.live_events = 0
        self.streams: dict[int, cudaStream_t] = {}

    # memory lookups used by the TensorRT stand-in's kernels too
    def device_view(self, addr: int, nbytes: int) -> memoryview | None:
        for base, buf in self.device_mem.items():
            if base <= addr and addr + nbytes <= base + len(buf):
                return memoryview(buf)[addr - base: addr - base + nbytes]
        return None

    def host_view(self, addr: int, nbytes: int) -> memoryview | None:
        for base, buf in self.host_mem.items():
            if base <= addr and addr + nbytes <= base + ctypes.sizeof(buf):
                return memoryview(buf).cast("B")[addr - base: addr - base + nbytes]
        return None

    def any_view(self, addr: int, nbytes: int) -> memoryview | None:
        view = self.device_view(addr, nbytes)
        if view is not None:
            return view
        view = self.host_view(addr, nbytes)
        if view is not None:
            return view
        # pageable host memory (numpy arrays): cudaMemcpyAsync accepts any host pointer
        return None


class _StreamState:
    def __init__(self):
        self.queue: list = []
        self.capturing: list | None = None
        self.capture_failed = False
        self.sticky: cudaError_t | None = None


def _ok(*values):
    return (cudaError_t.cudaSuccess, *values)


def _err(code: cudaError_t, *nones):
    return (code, *nones)


def make_module(device: Device, version: str = "12.6.2") -> types.ModuleType:
    """cuda.bindings.runtime over `device`."""
    m = types.ModuleType("cuda.bindings.runtime")
    m.__version__ = version
    m.cudaError_t, m.cudaMemcpyKind, m.cudaStreamCaptureMode = cudaError_t, cudaMemcpyKind, cudaStreamCaptureMode
    m.cudaStream_t, m.cudaEvent_t, m.cudaGraph_t, m.cudaGraphExec_t = cudaStream_t, cudaEvent_t, cudaGraph_t, cudaGraphExec_t

    def _stream(stream) -> _StreamState:
        if isinstance(stream, int) and not isinstance(stream, bool):  # a raw handle, as cuda-python also accepts
            stream = device.streams.get(stream, stream)
        if not isinstance(stream, cudaStream_t) or not isinstance(stream.state, _StreamState):
            raise TypeError(f"Argument 'stream' is not instance of type (expected <class 'int'>, or cudaStream_t), "
                            f"found {type(stream)}")
        return stream.state

    def _enqueue(stream, op) -> tuple:
        st = _stream(stream)
        (st.capturing if st.capturing is not None else st.queue).append(op)
        return _ok()

    def cudaGetDeviceProperties(device_):
        if int(device_) != 0:
            return _err(cudaError_t.cudaErrorInvalidValue, None)
        return _ok(cudaDeviceProp())

    def cudaGetErrorName(error):
        code = cudaError_t(int(error))
        return _ok(code.name.encode())

    def cudaGetErrorString(error):
        return _ok(ERROR_TEXT.get(cudaError_t(int(error)), "unknown error").encode())

    def cudaMemGetInfo():
        used = sum(len(b) for b in device.device_mem.values())
        return _ok((80 << 30) - used, 80 << 30)

    def cudaMalloc(size):
        device.malloc_calls += 1
        if device.fail_malloc_at is not None and device.malloc_calls == device.fail_malloc_at:
            return _err(cudaError_t.cudaErrorMemoryAllocation, 0)
        addr = device._next_dev
        device._next_dev += (int(size) + 0xFFFF) & ~0xFFFF
        device.device_mem[addr] = bytearray(int(size))
        return _ok(addr)

    def cudaFree(devPtr):
        if device.device_mem.pop(int(devPtr), None) is None:
            return _err(cudaError_t.cudaErrorInvalidValue)
        return _ok()

    def cudaMallocHost(size):
        buf = (ctypes.c_byte * int(size))()
        addr = ctypes.addressof(buf)
        device.host_mem[addr] = buf
        return _ok(addr)

    def cudaFreeHost(ptr):
        buf = device.host_mem.pop(int(ptr), None)
        if buf is None:
            return _err(cudaError_t.cudaErrorInvalidValue)
        device.freed_host[int(ptr)] = buf
        return _ok()

    def cudaStreamCreate():
        device.live_streams += 1
        stream = cudaStream_t(_StreamState())
        device.streams[int(stream)] = stream
        return _ok(stream)

    def cudaStreamDestroy(stream):
        _stream(stream)
        device.live_streams -= 1
        stream.state = None
        return _ok()

    def cudaEventCreate():
        device.live_events += 1
        return _ok(cudaEvent_t([None]))

    def cudaEventDestroy(event):
        device.live_events -= 1
        return _ok()

    def cudaEventRecord(event, stream):
        if not isinstance(event, cudaEvent_t):
            raise TypeError(f"Argument 'event' is not instance of type cudaEvent_t, found {type(event)}")
        return _enqueue(stream, lambda: event.state.__setitem__(0, time.perf_counter()))

    def cudaEventElapsedTime(start, end):
        a, b = start.state[0], end.state[0]
        if a is None or b is None:
            return _err(cudaError_t.cudaErrorInvalidResourceHandle, 0.0)
        return _ok((b - a) * 1000.0)

    def cudaMemcpyAsync(dst, src, count, kind, stream):
        if not isinstance(kind, cudaMemcpyKind):
            raise TypeError(f"Argument 'kind' is not instance of type cudaMemcpyKind, found {type(kind)}")
        dst, src, count = int(dst), int(src), int(count)

        def copy():
            if kind == cudaMemcpyKind.cudaMemcpyHostToDevice:
                d, s = device.device_view(dst, count), device.host_view(src, count)
            elif kind == cudaMemcpyKind.cudaMemcpyDeviceToHost:
                d, s = device.host_view(dst, count), device.device_view(src, count)
            else:
                d, s = device.any_view(dst, count), device.any_view(src, count)
            if d is None or s is None:
                return cudaError_t.cudaErrorIllegalAddress
            d[:] = s
            return None

        return _enqueue(stream, copy)

    def cudaStreamSynchronize(stream):
        st = _stream(stream)
        if st.capturing is not None:
            st.capture_failed = True  # synchronizing a capturing stream invalidates the capture
            return _err(cudaError_t.cudaErrorStreamCaptureUnsupported)
        ops, st.queue = st.queue, []
        for op in ops:
            if st.sticky is None:
                result = op()
                if result is not None:
                    st.sticky = result
        return _err(st.sticky) if st.sticky is not None else _ok()

    def cudaStreamBeginCapture(stream, mode):
        if not isinstance(mode, cudaStreamCaptureMode):
            raise TypeError(f"Argument 'mode' is not instance of type cudaStreamCaptureMode, found {type(mode)}")
        st = _stream(stream)
        if st.capturing is not None:
            return _err(cudaError_t.cudaErrorIllegalState)
        st.capturing, st.capture_failed = [], False
        return _ok()

    def cudaStreamEndCapture(stream):
        st = _stream(stream)
        if st.capturing is None:
            return _err(cudaError_t.cudaErrorStreamCaptureUnmatched, None)
        ops, failed = st.capturing, st.capture_failed
        st.capturing = None
        if failed:
            return _err(cudaError_t.cudaErrorStreamCaptureInvalidated, None)
        device.live_graphs += 1
        return _ok(cudaGraph_t(list(ops)))

    def cudaGraphInstantiate(graph, flags):
        if not isinstance(graph, cudaGraph_t):
            raise TypeError(f"Argument 'graph' is not instance of type cudaGraph_t, found {type(graph)}")
        int(flags)
        if device.fail_graph_instantiate:
            return _err(cudaError_t.cudaErrorInvalidValue, None)
        device.live_graph_execs += 1
        return _ok(cudaGraphExec_t(list(graph.state)))

    def cudaGraphLaunch(graphExec, stream):
        if not isinstance(graphExec, cudaGraphExec_t) or graphExec.state is None:
            return _err(cudaError_t.cudaErrorInvalidResourceHandle)
        for op in graphExec.state:
            _enqueue(stream, op)
        return _ok()

    def cudaGraphExecDestroy(graphExec):
        device.live_graph_execs -= 1
        graphExec.state = None
        return _ok()

    def cudaGraphDestroy(graph):
        device.live_graphs -= 1
        graph.state = None
        return _ok()

    for fn in (cudaGetDeviceProperties, cudaGetErrorName, cudaGetErrorString, cudaMemGetInfo, cudaMalloc, cudaFree,
               cudaMallocHost, cudaFreeHost, cudaStreamCreate, cudaStreamDestroy, cudaEventCreate, cudaEventDestroy,
               cudaEventRecord, cudaEventElapsedTime, cudaMemcpyAsync, cudaStreamSynchronize, cudaStreamBeginCapture,
               cudaStreamEndCapture, cudaGraphInstantiate, cudaGraphLaunch, cudaGraphExecDestroy, cudaGraphDestroy):
        setattr(m, fn.__name__, fn)
    m._enqueue = _enqueue  # the TensorRT stand-in queues its kernels on the same streams
    m._stream_state = _stream
    m._device = device
    return m
