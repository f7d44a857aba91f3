"""The runtime half of the TensorRT stand-in (tests/standins/tensorrt.py): Runtime, ICudaEngine, IExecutionContext.

A plan is deserialized only by the TensorRT version that built it; execute_async_v3 queues a kernel on the
emulated CUDA stream that reads the input and writes the output at the tensor addresses it was given (a
freed or foreign address fails as an illegal access at synchronize) and runs the plan's ONNX with ONNX Runtime.
"""
from __future__ import annotations

import json

import numpy as np

from .tensorrt import MAGIC


def runtime_classes(version, cudart, state, Logger, Severity, DataType, nptype, ExecutionContextAllocationStrategy,
                    Dims):
    device = cudart._device
    # ------------------------------------------------------------------ runtime
    class Runtime:
        __slots__ = ("_logger",)

        def __init__(self, logger):
            if not isinstance(logger, Logger):
                raise TypeError("__init__(): incompatible constructor arguments (logger)")
            self._logger = logger

        def deserialize_cuda_engine(self, serialized_engine):
            blob = bytes(serialized_engine)
            if not blob.startswith(MAGIC):
                self._logger.log(Severity.ERROR, "Serialization assertion failed: magic tag does not match")
                return None
            n = int.from_bytes(blob[len(MAGIC):len(MAGIC) + 4], "little")
            header = json.loads(blob[len(MAGIC) + 4:len(MAGIC) + 4 + n])
            if header["tensorrt"] != version:
                self._logger.log(Severity.ERROR, f"plan built by TensorRT {header['tensorrt']}, this is {version}")
                return None
            return ICudaEngine(header, blob[len(MAGIC) + 4 + n:])

    ONNX_TO_TRT = {1: DataType.FLOAT, 10: DataType.HALF, 2: DataType.UINT8, 3: DataType.INT8}

    class ICudaEngine:
        __slots__ = ("_header", "_onnx", "_session")

        def __init__(self, header, onnx_bytes):
            import onnxruntime as ort

            self._header, self._onnx = header, onnx_bytes
            self._session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])

        @property
        def num_io_tensors(self) -> int:
            return 2

        def get_tensor_name(self, index):
            return [self._header["io"]["input"], self._header["io"]["output"]][index]

        def get_tensor_dtype(self, name):
            io = self._header["io"]
            if name == io["input"]:
                return ONNX_TO_TRT[io["input_dtype"]]
            if name == io["output"]:
                return ONNX_TO_TRT[io["output_dtype"]]
            state["errors"].append(f"get_tensor_dtype: no tensor named {name!r}")
            return DataType.FLOAT

        def get_tensor_profile_shape(self, name, profile_index):
            """(min, opt, max) of an input in one optimization profile, as ICudaEngine does (10.x and 11.x)."""
            io = self._header["io"]
            if name != io["input"] or int(profile_index) != 0:
                state["errors"].append(f"get_tensor_profile_shape({name!r}, {profile_index}): no such input/profile")
                return []
            return [Dims(s) for s in io["profile"]]

        def create_execution_context(self, strategy=ExecutionContextAllocationStrategy.STATIC):
            return IExecutionContext(self, ExecutionContextAllocationStrategy(strategy))

    class IExecutionContext:
        __slots__ = ("_engine", "_shape", "_addresses", "strategy")

        def __init__(self, engine, strategy):
            self._engine, self._shape, self._addresses, self.strategy = engine, None, {}, strategy

        @property
        def engine(self):
            return self._engine

        def set_input_shape(self, name, shape):
            io = self._engine._header["io"]
            shape = tuple(int(v) for v in shape)
            lo, _, hi = (tuple(s) for s in io["profile"])
            if name != io["input"] or len(shape) != len(lo) or any(not (a <= s <= b) for a, s, b in zip(lo, shape, hi)):
                state["errors"].append(f"set_input_shape({name!r}, {shape}): outside the profile {lo}..{hi}")
                return False
            self._shape = shape
            return True

        def get_tensor_shape(self, name):
            io = self._engine._header["io"]
            if name not in (io["input"], io["output"]) or self._shape is None:
                return Dims((-1,) * len(io["profile"][0]))
            return Dims(self._shape)

        def set_tensor_address(self, name, memory):
            io = self._engine._header["io"]
            if name not in (io["input"], io["output"]) or int(memory) == 0:
                state["errors"].append(f"set_tensor_address({name!r}, {int(memory):#x}) rejected")
                return False
            self._addresses[name] = int(memory)
            return True

        def get_tensor_address(self, name):
            return self._addresses.get(name, 0)

        def execute_async_v3(self, stream_handle):
            if isinstance(stream_handle, float) or not hasattr(stream_handle, "__int__"):
                raise TypeError("execute_async_v3(): incompatible function arguments (stream_handle: int)")
            stream = stream_handle
            io = self._engine._header["io"]
            if self._shape is None or set(self._addresses) != {io["input"], io["output"]}:
                state["errors"].append("execute_async_v3: input shape or tensor addresses not set")
                return False
            if state["fail_execute_when_capturing"] and cudart._stream_state(stream).capturing is not None:
                state["errors"].append("execute_async_v3: injected failure during capture")
                return False
            shape, session = self._shape, self._engine._session
            in_dtype = np.dtype(nptype(ONNX_TO_TRT[io["input_dtype"]]))
            out_dtype = np.dtype(nptype(ONNX_TO_TRT[io["output_dtype"]]))
            src, dst = self._addresses[io["input"]], self._addresses[io["output"]]
            in_bytes, out_bytes = int(np.prod(shape)) * in_dtype.itemsize, int(np.prod(shape)) * out_dtype.itemsize

            def kernel():
                view_in, view_out = device.device_view(src, in_bytes), device.device_view(dst, out_bytes)
                if view_in is None or view_out is None:
                    return cudart.cudaError_t.cudaErrorIllegalAddress
                x = np.frombuffer(view_in, dtype=in_dtype).reshape(shape)
                y = session.run(None, {io["input"]: x})[0]
                if y.shape != shape or y.dtype != out_dtype:
                    return cudart.cudaError_t.cudaErrorIllegalAddress
                view_out[:] = np.ascontiguousarray(y).tobytes()
                return None

            cudart._enqueue(stream, kernel)
            return True

    return Runtime, ICudaEngine, IExecutionContext
