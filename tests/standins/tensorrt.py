"""A strict stand-in for the `tensorrt` Python bindings at 10.3 and 11.x, for contract tests on CPU.

Names and parameters follow NVIDIA's pybind11 bindings (python/src/infer/pyCore.cpp, pyFoundationalTypes.cpp,
parsers/pyOnnx.cpp): Builder(logger), create_network(flags=0), set_memory_pool_limit(pool, pool_size),
set_shape(input, min, opt, max), create_timing_cache(serialized_timing_cache), set_timing_cache(cache,
ignore_mismatch), build_serialized_network(network, config), OnnxParser(network, logger), parse(model,
path=None), Runtime(logger), deserialize_cuda_engine(serialized_engine), create_execution_context(strategy),
set_input_shape(name, shape), get_tensor_shape(name), set_tensor_address(name, memory),
execute_async_v3(stream_handle), ... Classes have __slots__ (setting an unknown attribute raises
AttributeError, as on a pybind11 object), the module has nothing else (AttributeError), and Python
itself raises TypeError for a wrong number of arguments. Version differences that matter here:
10.3 has BuilderFlag.FP16/INT8 and NetworkDefinitionCreationFlag.EXPLICIT_BATCH; 11.x has neither
(strongly typed only).

What it emulates: the ONNX parser (refusing MaxUnpool and MaxPool's indices output, as the real
one does), optimization-profile checks, timing caches tied to a GPU, plans tied to a TensorRT
version, and execution of the plan's network with ONNX Runtime on the emulated CUDA stream (device
buffers of tests/standins/cudart.py). Plumbing only: no TensorRT numerics, no speed.
"""
from __future__ import annotations

import enum
import json
import types

import numpy as np

MAGIC = b"DRN-STANDIN-PLAN\x00"
CACHE_MAGIC = b"DRN-STANDIN-TCACHE\x00"


def make_module(version: str, cudart) -> types.ModuleType:
    major = int(version.split(".")[0])
    gpu_name = "NVIDIA H100 80GB HBM3 (stand-in)"
    m = types.ModuleType("tensorrt")
    m.__version__ = version
    state = {"fail_execute_when_capturing": False, "errors": []}

    class Severity(enum.IntEnum):
        INTERNAL_ERROR = 0
        ERROR = 1
        WARNING = 2
        INFO = 3
        VERBOSE = 4

    class Logger:
        __slots__ = ("min_severity",)
        INTERNAL_ERROR, ERROR, WARNING, INFO, VERBOSE = (Severity.INTERNAL_ERROR, Severity.ERROR, Severity.WARNING,
                                                         Severity.INFO, Severity.VERBOSE)

        def __init__(self, min_severity=Severity.WARNING):
            self.min_severity = Severity(min_severity)

        def log(self, severity, msg):
            if severity <= Severity.ERROR:
                state["errors"].append(msg)

    Logger.Severity = Severity

    class DataType(enum.IntEnum):
        FLOAT = 0
        HALF = 1
        INT8 = 2
        INT32 = 3
        BOOL = 4
        UINT8 = 5
        FP8 = 6
        BF16 = 7
        INT64 = 8
        INT4 = 9

    NP = {DataType.FLOAT: np.float32, DataType.HALF: np.float16, DataType.INT8: np.int8, DataType.INT32: np.int32,
          DataType.BOOL: np.bool_, DataType.UINT8: np.uint8, DataType.INT64: np.int64}

    def nptype(trt_type):
        if trt_type not in NP:
            raise TypeError("Could not resolve TensorRT datatype to an equivalent numpy datatype.")
        return NP[trt_type]

    flags = ["FP16", "BF16", "INT8"] if major < 11 else []
    BuilderFlag = enum.IntEnum("BuilderFlag", {n: i for i, n in enumerate(
        flags + ["DEBUG", "GPU_FALLBACK", "REFIT", "DISABLE_TIMING_CACHE", "TF32", "SPARSE_WEIGHTS", "SAFETY_SCOPE",
                 "OBEY_PRECISION_CONSTRAINTS", "PREFER_PRECISION_CONSTRAINTS", "DIRECT_IO", "REJECT_EMPTY_ALGORITHMS",
                 "VERSION_COMPATIBLE", "EXCLUDE_LEAN_RUNTIME", "FP8", "ERROR_ON_TIMING_CACHE_MISS",
                 "DISABLE_COMPILATION_CACHE", "WEIGHTLESS", "STRIP_PLAN", "REFIT_IDENTICAL"])})
    NetworkDefinitionCreationFlag = enum.IntEnum("NetworkDefinitionCreationFlag",
                                                 {"EXPLICIT_BATCH": 0, "STRONGLY_TYPED": 1} if major < 11
                                                 else {"STRONGLY_TYPED": 1})
    MemoryPoolType = enum.IntEnum("MemoryPoolType", {"WORKSPACE": 0, "DLA_MANAGED_SRAM": 1, "DLA_LOCAL_DRAM": 2,
                                                     "DLA_GLOBAL_DRAM": 3, "TACTIC_DRAM": 4,
                                                     "TACTIC_SHARED_MEMORY": 5})
    DeviceType = enum.IntEnum("DeviceType", {"GPU": 0, "DLA": 1})
    ExecutionContextAllocationStrategy = enum.IntEnum("ExecutionContextAllocationStrategy",
                                                      {"STATIC": 0, "ON_PROFILE_CHANGE": 1, "USER_MANAGED": 2})

    class Dims(tuple):
        pass

    class IHostMemory:
        __slots__ = ("_data",)

        def __init__(self, data: bytes):
            self._data = data

        def __bytes__(self) -> bytes:
            return self._data

        @property
        def nbytes(self) -> int:
            return len(self._data)

    # ------------------------------------------------------------------ network + parser
    class INetworkDefinition:
        __slots__ = ("_flags", "_onnx", "_inputs", "_outputs")

        def __init__(self, flags):
            self._flags, self._onnx, self._inputs, self._outputs = flags, None, [], []

        @property
        def num_inputs(self) -> int:
            return len(self._inputs)

        @property
        def num_outputs(self) -> int:
            return len(self._outputs)

    class ParserError:
        __slots__ = ("_desc",)

        def __init__(self, desc):
            self._desc = desc

        def desc(self) -> str:
            return self._desc

        def __str__(self) -> str:
            return f"In node -1 with name:  and operator:  (unknown): {self._desc}"

    class OnnxParser:
        __slots__ = ("_network", "_logger", "_errors")

        def __init__(self, network, logger):
            if not isinstance(network, INetworkDefinition) or not isinstance(logger, Logger):
                raise TypeError("__init__(): incompatible constructor arguments (network, logger)")
            self._network, self._logger, self._errors = network, logger, []

        def parse(self, model, path=None):
            import onnx

            try:
                proto = onnx.load_from_string(bytes(model))
            except Exception as exc:
                self._errors.append(ParserError(f"failed to parse the ONNX model: {exc}"))
                return False
            if any(t.data_location == onnx.TensorProto.EXTERNAL for t in proto.graph.initializer) and path is None:
                self._errors.append(ParserError("external weights need the model path"))
                return False
            for node in proto.graph.node:
                if node.op_type == "MaxUnpool":
                    self._errors.append(ParserError("No importer registered for op: MaxUnpool"))
                if node.op_type == "MaxPool" and len([o for o in node.output if o]) > 1:
                    self._errors.append(ParserError("MaxPool with the indices output is not supported"))
            if self._errors:
                return False
            init = {t.name for t in proto.graph.initializer}
            self._network._onnx = bytes(model)
            self._network._inputs = [i for i in proto.graph.input if i.name not in init]
            self._network._outputs = list(proto.graph.output)
            return True

        @property
        def num_errors(self) -> int:
            return len(self._errors)

        def get_error(self, index):
            return self._errors[index]

        def clear_errors(self):
            self._errors = []

    # ------------------------------------------------------------------ builder
    class IOptimizationProfile:
        __slots__ = ("_shapes",)

        def __init__(self):
            self._shapes = {}

        def set_shape(self, input, min, opt, max):
            a, b, c = (tuple(int(v) for v in s) for s in (min, opt, max))
            if not (len(a) == len(b) == len(c)) or any(x > y for x, y in zip(a, b)) or any(x > y for x, y in zip(b, c)):
                raise RuntimeError("Shape provided for min is inconsistent with other shapes.")
            self._shapes[str(input)] = (a, b, c)

        def get_shape(self, input):
            return [Dims(s) for s in self._shapes.get(str(input), ())]

    class ITimingCache:
        __slots__ = ("_gpu", "_version", "_entries")

        def __init__(self, gpu, ver, entries):
            self._gpu, self._version, self._entries = gpu, ver, entries

        def serialize(self):
            return IHostMemory(CACHE_MAGIC + json.dumps({"gpu": self._gpu, "tensorrt": self._version,
                                                         "entries": self._entries}).encode())

        def combine(self, input_cache, ignore_mismatch):
            return True

        def reset(self):
            self._entries = 0
            return True

    class IBuilderConfig:
        __slots__ = ("_pools", "_flags", "_profiles", "_cache", "default_device_type", "DLA_core")

        def __init__(self):
            self._pools, self._flags, self._profiles, self._cache = {}, set(), [], None
            self.default_device_type, self.DLA_core = DeviceType.GPU, -1

        def set_memory_pool_limit(self, pool, pool_size):
            self._pools[MemoryPoolType(pool)] = int(pool_size)

        def get_memory_pool_limit(self, pool):
            return self._pools.get(MemoryPoolType(pool), 0)

        def set_flag(self, flag):
            self._flags.add(BuilderFlag(flag))

        def clear_flag(self, flag):
            self._flags.discard(BuilderFlag(flag))

        def get_flag(self, flag):
            return BuilderFlag(flag) in self._flags

        def add_optimization_profile(self, profile):
            if not isinstance(profile, IOptimizationProfile) or not profile._shapes:
                return -1
            self._profiles.append(profile)
            return len(self._profiles) - 1

        @property
        def num_optimization_profiles(self):
            return len(self._profiles)

        def create_timing_cache(self, serialized_timing_cache):
            blob = bytes(serialized_timing_cache)
            if not blob:
                return ITimingCache(gpu_name, version, 0)
            if not blob.startswith(CACHE_MAGIC):
                return ITimingCache("unreadable", "?", 0)
            rec = json.loads(blob[len(CACHE_MAGIC):])
            return ITimingCache(rec["gpu"], rec["tensorrt"], rec["entries"])

        def set_timing_cache(self, cache, ignore_mismatch):
            if not isinstance(cache, ITimingCache) or not isinstance(ignore_mismatch, bool):
                raise TypeError("set_timing_cache(): incompatible function arguments (cache, ignore_mismatch)")
            if not ignore_mismatch and (cache._gpu, cache._version) != (gpu_name, version):
                return False
            self._cache = cache
            return True

        def get_timing_cache(self):
            return self._cache

    class Builder:
        __slots__ = ("_logger",)

        def __init__(self, logger):
            if not isinstance(logger, Logger):
                raise TypeError("__init__(): incompatible constructor arguments (logger)")
            self._logger = logger

        def create_network(self, flags=0):
            return INetworkDefinition(int(flags))

        def create_builder_config(self):
            return IBuilderConfig()

        def create_optimization_profile(self):
            return IOptimizationProfile()

        @property
        def num_DLA_cores(self) -> int:
            return 0

        @property
        def platform_has_fast_fp16(self) -> bool:
            return True

        def build_serialized_network(self, network, config):
            if not isinstance(network, INetworkDefinition) or not isinstance(config, IBuilderConfig):
                raise TypeError("build_serialized_network(): incompatible function arguments (network, config)")
            fail = lambda msg: (self._logger.log(Severity.ERROR, msg), None)[1]  # noqa: E731
            if network._onnx is None:
                return fail("network has no layers (was the ONNX parsed?)")
            strongly_typed = bool(network._flags & (1 << int(NetworkDefinitionCreationFlag.STRONGLY_TYPED)))
            if major >= 11 and not strongly_typed:
                return fail("TensorRT 11 networks must be created STRONGLY_TYPED")
            inp = network._inputs[0]
            dims = [d.dim_value if d.HasField("dim_value") else -1 for d in inp.type.tensor_type.shape.dim]
            if not config._profiles:
                return fail("network has dynamic or shape inputs, but no optimization profile has been defined")
            lo, opt, hi = config._profiles[0]._shapes.get(inp.name, (None, None, None))
            if lo is None:
                return fail(f"optimization profile is missing values for input '{inp.name}'")
            if len(lo) != len(dims) or any(d not in (-1, x) for d, x in zip(dims, hi)) or \
                    any(d not in (-1, x) for d, x in zip(dims, lo)):
                return fail(f"profile shapes {lo}..{hi} do not fit input '{inp.name}' of shape {dims}")
            if config.get_memory_pool_limit(MemoryPoolType.WORKSPACE) <= 0:
                return fail("workspace limit must be positive")
            has_qdq = b"QuantizeLinear" in network._onnx
            if strongly_typed:
                if {f.name for f in config._flags} & {"FP16", "INT8", "BF16"}:
                    return fail("precision flags are not allowed on a strongly typed network")
                precision = "int8" if has_qdq else ("fp16" if _has_fp16(network._onnx) else "fp32")
            else:
                if config.get_flag(BuilderFlag.INT8) and not has_qdq:
                    return fail("INT8 requested but the network has no Q/DQ nodes and no calibrator is set")
                precision = "int8" if config.get_flag(BuilderFlag.INT8) else (
                    "fp16" if config.get_flag(BuilderFlag.FP16) else "fp32")
            if config._cache is not None:
                config._cache._entries += 1
            io = {"input": inp.name, "output": network._outputs[0].name, "profile": [lo, opt, hi],
                  "input_dtype": inp.type.tensor_type.elem_type, "output_dtype": network._outputs[0].type.tensor_type.elem_type}
            header = json.dumps({"tensorrt": version, "gpu": gpu_name, "precision": precision, "io": io}).encode()
            return IHostMemory(MAGIC + len(header).to_bytes(4, "little") + header + network._onnx)

    from .tensorrt_runtime import runtime_classes

    Runtime, ICudaEngine, IExecutionContext = runtime_classes(version, cudart, state, Logger, Severity, DataType, nptype,
                                                              ExecutionContextAllocationStrategy, Dims)
    for name, obj in dict(Logger=Logger, DataType=DataType, nptype=nptype, BuilderFlag=BuilderFlag,
                          NetworkDefinitionCreationFlag=NetworkDefinitionCreationFlag, MemoryPoolType=MemoryPoolType,
                          DeviceType=DeviceType, ExecutionContextAllocationStrategy=ExecutionContextAllocationStrategy,
                          Dims=Dims, IHostMemory=IHostMemory, INetworkDefinition=INetworkDefinition, OnnxParser=OnnxParser,
                          IOptimizationProfile=IOptimizationProfile, ITimingCache=ITimingCache,
                          IBuilderConfig=IBuilderConfig, Builder=Builder, Runtime=Runtime, ICudaEngine=ICudaEngine,
                          IExecutionContext=IExecutionContext).items():
        setattr(m, name, obj)
    m._state = state  # test controls: failure injection and the errors TensorRT would have logged
    return m


def _has_fp16(onnx_bytes: bytes) -> bool:
    import onnx

    proto = onnx.load_from_string(onnx_bytes)
    return any(t.data_type == onnx.TensorProto.FLOAT16 for t in proto.graph.initializer)
