"""ONNX Runtime backend: TensorRT, CUDA or CPU execution providers.

An InferenceSession may be run from several threads at once (ONNX Runtime documents run() as
thread-safe), so one session serves every camera thread.
"""
from __future__ import annotations

import os

import numpy as np

from drn_edge.errors import EngineError, MissingDependencyError
from drn_edge.runtime.backend import EngineIO
from drn_edge.runtime.deadline import current_call

PROVIDERS = {
    "onnxruntime-cpu": ["CPUExecutionProvider"],
    "onnxruntime-cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"],
    "onnxruntime-trt": ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"],
}


def _import_ort():
    try:
        import onnxruntime
    except ImportError:
        raise MissingDependencyError("onnxruntime", None, "running .onnx engines") from None
    return onnxruntime


def choose_providers(backend: str) -> list[str]:
    ort = _import_ort()
    available = set(ort.get_available_providers())
    if backend == "auto":
        return [p for p in PROVIDERS["onnxruntime-trt"] if p in available] or ["CPUExecutionProvider"]
    wanted = PROVIDERS[backend]
    if wanted[0] not in available:
        raise EngineError(
            f"backend '{backend}' needs ONNX Runtime's {wanted[0]}, but this onnxruntime offers only "
            f"{sorted(available)}; install onnxruntime-gpu on a CUDA machine, or use backend='onnxruntime-cpu'"
        )
    return wanted


# An ONNX file names its external weight files in TensorProto.external_data entries whose key is
# "location"; this is that entry's protobuf encoding (field 1, length 8). drn-export never writes
# external data, and the sidecar's sha256 could not cover such files, so they are refused.
_EXTERNAL_DATA_MARK = b"\n\x08location"


def refuse_external_data(path: str | os.PathLike) -> None:
    with open(path, "rb") as fh:
        if _EXTERNAL_DATA_MARK in fh.read():
            raise EngineError(
                f"'{path}' keeps its weights in external data files, which its sha256 sidecar cannot cover (a swapped "
                "weights file would load silently). Re-export it as one file (drn-export never splits weights)")


def session_options(threads: int | None = None):
    """ONNX Runtime session options: quiet, and the one place a --threads value reaches ONNX Runtime."""
    ort = _import_ort()
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    if threads:
        opts.intra_op_num_threads = threads
    return opts


class OnnxRuntimeBackend:
    def __init__(self, path: str | os.PathLike, backend: str = "auto", threads: int | None = None):
        ort = _import_ort()
        refuse_external_data(path)
        opts = session_options(threads)
        providers = choose_providers(backend)
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=providers)
        except Exception as exc:  # ORT raises its own exception types for damaged or invalid graphs
            raise EngineError(
                f"ONNX Runtime cannot load '{path}': {str(exc).splitlines()[0][:300]}. "
                "The file may be truncated or not an ONNX model; re-export it with drn-export"
            ) from None
        self.name = f"onnxruntime:{self.session.get_providers()[0]}"
        ins, outs = self.session.get_inputs(), self.session.get_outputs()
        if len(ins) != 1 or len(outs) != 1:
            raise EngineError(f"'{path}' has {len(ins)} inputs and {len(outs)} outputs; a DRN graph has one of each")
        shape = ins[0].shape
        uint8 = ins[0].type == "tensor(uint8)"
        if len(shape) != 4 or (uint8 and shape[3] != 3) or (not uint8 and shape[1] != 3):
            raise EngineError(f"'{path}' input {ins[0].name} has shape {shape}; not a DRN graph (N,3,H,W or N,H,W,3)")
        h, w = (shape[1], shape[2]) if uint8 else (shape[2], shape[3])
        as_int = lambda d: d if isinstance(d, int) else None  # noqa: E731  (symbolic dims are strings)
        self.io = EngineIO(ins[0].name, outs[0].name, uint8, as_int(h), as_int(w), as_int(shape[0]))
        self._in_flight: set = set()  # the RunOptions of each run in flight (close() ends them)

    last_compute_ms = None  # ONNX Runtime exposes no device timer: not measurable
    last_split_ms = None    # nor separate copy times

    def run(self, batch: np.ndarray) -> np.ndarray:
        session = self.session
        if session is None:
            raise EngineError("the ONNX Runtime session is closed")
        options = _import_ort().RunOptions()
        call = current_call()  # a time-limited call: its cancel ends this run (terminate is checked between kernels)
        if call is not None:
            call.on_cancel(lambda: setattr(options, "terminate", True))
        self._in_flight.add(options)
        try:
            return session.run([self.io.output_name], {self.io.input_name: batch}, options)[0]
        finally:
            self._in_flight.discard(options)

    def close(self) -> None:
        for options in list(self._in_flight):
            options.terminate = True
        self.session = None
