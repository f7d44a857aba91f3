"""Calibration readers, explicit INT8 quantization (QDQ ONNX) and FP16 conversion.

Explicit quantization (Q/DQ nodes in the ONNX) is what TensorRT 10.x and 11.x both build from
(implicit INT8 calibrators are deprecated since 10.1 and gone in 11), and it runs on ONNX
Runtime's CPU provider, so the INT8 model can be checked on any machine.
"""
from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Protocol

import numpy as np

from drn_edge.errors import CalibrationError, ExportError
from drn_edge.outputs import atomic_path
from drn_edge.progress import progress_bar

CALIBRATION_METHODS = ("minmax", "entropy", "percentile")
# The percentile method clips activations above this percentile of what calibration saw. At 99.99 heavy rain's large
# activations were clipped and the INT8 drop at high rain passed 0.5 dB; 99.999 keeps it within (the measured drops:
# docs/models.md, INT8).
DEFAULT_PERCENTILE = 99.999


class CalibrationSource(Protocol):
    """Anything with get_next() -> {input_name: array} | None (onnxruntime's CalibrationDataReader shape)."""

    def get_next(self) -> dict[str, np.ndarray] | None: ...


class _StridedFeeds:
    """What ORT's strided calibration needs (__len__, set_range, get_next) over any CalibrationSource.

    The caller's source is never modified: a reader with feed(i) and __len__ (calibration.FrameCalibrationReader)
    is read frame by frame on demand; any other source is drained once into a list of feeds.
    """

    def __init__(self, source: CalibrationSource, on_frame=None):
        if callable(getattr(source, "feed", None)) and hasattr(source, "__len__"):  # a calibration.FrameCalibrationReader
            self._count, self._feed = len(source), source.feed
        else:
            feeds = []
            while (f := source.get_next()) is not None:
                feeds.append(f)
            if not feeds:
                raise CalibrationError("the calibration source returned no inputs")
            self._count, self._feed = len(feeds), feeds.__getitem__
        self.on_frame = on_frame
        self.set_range(0, self._count)

    def __len__(self) -> int:
        return self._count

    def set_range(self, start_index: int, end_index: int) -> None:
        self._it = iter(range(start_index, min(end_index, self._count)))

    def get_next(self) -> dict[str, np.ndarray] | None:
        i = next(self._it, None)
        if i is None:
            return None
        if self.on_frame:
            self.on_frame(1)
        return self._feed(i)


def _largest_divisor_at_most(n: int, k: int) -> int:
    return max(d for d in range(1, min(n, k) + 1) if n % d == 0)


def conv_node_names(onnx_path: str | os.PathLike) -> list[str]:
    import onnx

    return [n.name for n in onnx.load(str(onnx_path)).graph.node if n.op_type == "Conv"]


def quantize_int8(fp32_onnx: str | os.PathLike, out_path: str | os.PathLike, source: CalibrationSource | None,
                  method: str = "percentile", keep_float_edges: bool = False, stride: int = 4,
                  percentile: float = DEFAULT_PERCENTILE, calibration_graph: str | os.PathLike | None = None,
                  ranges: dict | None = None, cache_path: str | os.PathLike | None = None) -> Path:
    """Write a QDQ INT8 ONNX: per-channel symmetric weights, symmetric activations (TensorRT's requirement).

    Only Conv is quantized: the first-max pool mask (ReduceMax/Equal/MatMul) must stay exact.
    `stride` frames are held at a time during calibration, which bounds memory.
    keep_float_edges leaves the first and last conv in float (mixed precision).
    calibration_graph: a dynamic-size export of the same model. Ranges are collected on it at the
    calibration frames' size and applied to `fp32_onnx` (e.g. a fixed 720x1280 graph), because
    collecting at 720x1280 needs ~10 GB of intermediate tensors per frame.
    ranges: ONNX Runtime's calibration cache of this graph (e.g. the shipped ranges): no calibration
    runs and `source` may be None; every quantized tensor must have its range.
    cache_path: also keep the ranges a calibration run computed there (how the shipped ones are made).
    """
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if method not in CALIBRATION_METHODS:
        raise ExportError(f"calibration method must be one of {CALIBRATION_METHODS}, got {method!r}")
    calib = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
             "percentile": CalibrationMethod.Percentile}[method]
    reader = _StridedFeeds(source) if ranges is None else None
    extra = {"ActivationSymmetric": True, "WeightSymmetric": True}
    if reader is not None:
        extra["CalibStridedMinMax"] = _largest_divisor_at_most(len(reader), stride)
    if method == "percentile":
        extra["CalibPercentile"] = percentile

    def run(model_in, model_out, data_reader, cache):
        convs = conv_node_names(model_in)
        exclude = [convs[0], convs[-1]] if keep_float_edges and len(convs) >= 2 else []
        quantize_static(str(model_in), str(model_out), data_reader, quant_format=QuantFormat.QDQ,
                        op_types_to_quantize=["Conv"], per_channel=True, reduce_range=False,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8, calibrate_method=calib,
                        nodes_to_exclude=exclude, extra_options=extra, calibration_providers=["CPUExecutionProvider"],
                        calibration_cache_path=cache)

    out_path = Path(out_path)
    with atomic_path(out_path) as tmp, tempfile.TemporaryDirectory() as work, _quiet_onnxruntime_quantization():
        cache = Path(work) / "ranges.json"
        if ranges is not None:
            _check_ranges_cover(fp32_onnx, ranges)
            cache.write_text(json.dumps(ranges))
            run(fp32_onnx, tmp, None, cache)
        elif calibration_graph is None:
            with _progress(reader, "calibrate"):
                run(fp32_onnx, tmp, reader, cache)
        else:
            twin = Path(work) / "twin.int8.onnx"
            with _progress(reader, "calibrate"):
                run(calibration_graph, twin, reader, cache)
            run(fp32_onnx, tmp, None, cache)  # ranges from the cache: no calibration at the full size
            if _count_quantize_nodes(tmp) != _count_quantize_nodes(twin):
                raise ExportError("calibration ranges did not carry over from the dynamic-size graph to the "
                                  "fixed-size graph; calibrate at the export size with --calib-size HxW")
        if cache_path is not None and ranges is None:
            shutil.copyfile(cache, cache_path)
    return out_path


def _check_ranges_cover(onnx_path, ranges: dict) -> None:
    """Every Conv input of the graph must have a range, or INT8 would silently stay float there."""
    import onnx

    names = {n.input[0] for n in onnx.load(str(onnx_path)).graph.node if n.op_type == "Conv"}
    data = ranges.get("data") if isinstance(ranges, dict) else None
    have = set(data) if isinstance(data, dict) else set()
    missing = sorted(names - have)
    if missing:
        raise CalibrationError(f"the INT8 ranges do not cover this graph ({len(missing)} tensors without a range, "
                               f"e.g. {missing[0]}): they belong to another model or export; calibrate with --calib DIR")


@contextlib.contextmanager
def _quiet_onnxruntime_quantization():
    """ORT's calibrators print histogram details and log pre-processing advice on the root logger."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        root.setLevel(level)


@contextlib.contextmanager
def _progress(reader: _StridedFeeds, desc: str):
    """Tick a progress bar (on stderr, which ORT does not write to) for each calibration frame."""
    bar = progress_bar(total=len(reader), desc=desc, leave=False)
    reader.on_frame = bar.update
    try:
        yield
    finally:
        reader.on_frame = None
        bar.close()


def _count_quantize_nodes(path) -> int:
    import onnx

    return sum(n.op_type == "QuantizeLinear" for n in onnx.load(str(path)).graph.node)


def convert_fp16(fp32_onnx: str | os.PathLike, out_path: str | os.PathLike) -> Path:
    """FP16 weights and compute with FP32 (or uint8) graph I/O, via onnxruntime's converter.

    onnxconverter-common's output fails to load in ONNX Runtime (Cast/ConstantOfShape type errors).
    The first-max pool compares values for equality; in FP16 that is still exact (same tensor).
    """
    import onnx
    from onnxruntime.transformers.float16 import convert_float_to_float16

    model = convert_float_to_float16(onnx.load(str(fp32_onnx)), keep_io_types=True, disable_shape_infer=False)
    _topological_sort(model.graph)  # the converter appends its input Casts last; TensorRT reads nodes in order
    onnx.checker.check_model(model, full_check=True)
    out_path = Path(out_path)
    with atomic_path(out_path) as tmp:
        onnx.save(model, str(tmp))
    return out_path


def _topological_sort(graph) -> None:
    available = {i.name for i in graph.input} | {i.name for i in graph.initializer} | {""}
    pending, ordered = list(graph.node), []
    while pending:
        ready = [n for n in pending if all(i in available for i in n.input)]
        if not ready:
            raise ExportError("FP16 graph has a cycle or a dangling input; cannot order its nodes")
        for n in ready:
            ordered.append(n)
            available.update(n.output)
        pending = [n for n in pending if all(n is not r for r in ready)]
    del graph.node[:]
    graph.node.extend(ordered)
