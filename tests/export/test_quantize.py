import re

import numpy as np
import onnx
import onnxruntime as ort
import pytest

from drn_edge.errors import CalibrationError, ExportError
from drn_edge.export.calibration import FrameCalibrationReader, calibration_hash, load_calibration_frames
from drn_edge.export.quantize import convert_fp16, quantize_int8


@pytest.fixture(scope="module")
def frames(calib_dir):
    return load_calibration_frames(calib_dir, 64, 96)[:4]


def _run(path, x):
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


@pytest.mark.parametrize("method", ["minmax", "entropy", "percentile"])
def test_int8_qdq_is_symmetric_and_close_to_fp32(tiny_onnx, frames, tmp_path, method):
    reader = FrameCalibrationReader(frames, "rainy", uint8_bgr_io=False)
    q = quantize_int8(tiny_onnx["float"], tmp_path / "q.onnx", reader, method, stride=2)
    g = onnx.load(str(q))
    ops = [n.op_type for n in g.graph.node]
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    inits = {i.name: onnx.numpy_helper.to_array(i) for i in g.graph.initializer}
    zero_points = [inits[n.input[2]] for n in g.graph.node if n.op_type == "QuantizeLinear" and len(n.input) > 2]
    assert zero_points and all(np.all(z == 0) and z.dtype == np.int8 for z in zero_points)  # symmetric int8
    # Only convs (and their outputs) are quantized: no Q/DQ inside the first-max pool mask.
    quantized_consumers = {n.op_type for n in g.graph.node for dq in g.graph.node
                           if dq.op_type == "DequantizeLinear" and dq.output[0] in n.input}
    assert "Conv" in quantized_consumers
    assert not quantized_consumers & {"ReduceMax", "Equal", "MatMul", "Reshape", "Transpose"}
    reader.rewind()
    x = reader.get_next()["rainy"]
    out, ref = _run(q, x), _run(tiny_onnx["float"], x)
    assert np.abs(out - ref).mean() < 0.02


def test_keep_float_edges_leaves_first_and_last_conv_unquantized(tiny_onnx, frames, tmp_path):
    reader = FrameCalibrationReader(frames, "rainy", uint8_bgr_io=False)
    q = quantize_int8(tiny_onnx["float"], tmp_path / "q.onnx", reader, "minmax", keep_float_edges=True)
    g = onnx.load(str(q))
    convs = [n for n in g.graph.node if n.op_type == "Conv"]
    producers = {o: n.op_type for n in g.graph.node for o in n.output}
    assert producers.get(convs[0].input[1]) != "DequantizeLinear"
    assert producers.get(convs[-1].input[1]) != "DequantizeLinear"
    assert producers.get(convs[1].input[1]) == "DequantizeLinear"


def test_uint8_frame_graph_quantizes(tiny_onnx, frames, tmp_path):
    reader = FrameCalibrationReader(frames, "frame_bgr", uint8_bgr_io=True)
    q = quantize_int8(tiny_onnx["uint8_fixed"], tmp_path / "q.onnx", reader, "minmax")
    reader.rewind()
    x = reader.get_next()["frame_bgr"]
    out = _run(q, x)
    assert out.dtype == np.uint8 and out.shape == x.shape
    assert np.abs(out.astype(int) - _run(tiny_onnx["uint8_fixed"], x).astype(int)).mean() < 4


def test_fp16_runs_in_onnxruntime(tiny_onnx, frames, tmp_path):
    p = convert_fp16(tiny_onnx["float"], tmp_path / "h.onnx")
    x = (frames[0].astype(np.float32) / 255).transpose(2, 0, 1)[None]
    out, ref = _run(p, x), _run(tiny_onnx["float"], x)
    assert out.dtype == np.float32 and np.abs(out - ref).mean() < 2e-3


def test_empty_and_unreadable_calibration_sets(tmp_path):
    with pytest.raises(CalibrationError, match="holds no images"):
        load_calibration_frames(tmp_path, 64, 64)
    (tmp_path / "a.png").write_bytes(b"not a png")
    (tmp_path / "b.jpg").write_bytes(b"")
    with pytest.raises(CalibrationError, match="a.png, b.jpg"):
        load_calibration_frames(tmp_path, 64, 64)
    with pytest.raises(CalibrationError, match="does not exist"):
        load_calibration_frames(tmp_path / "missing", 64, 64)


def test_calibration_hash_changes_with_content(tmp_path, calib_dir):
    import shutil

    src = calib_dir
    for p in sorted(src.glob("*.jpg"))[:2]:
        shutil.copy(p, tmp_path / p.name)
    h1 = calibration_hash(tmp_path)
    first = sorted(tmp_path.glob("*.jpg"))[0]
    first.write_bytes(first.read_bytes() + b"\0")
    assert calibration_hash(tmp_path) != h1


def test_unknown_method(tiny_onnx, frames, tmp_path):
    with pytest.raises(ExportError, match="calibration method"):
        quantize_int8(tiny_onnx["float"], tmp_path / "q.onnx", FrameCalibrationReader(frames, "rainy", False), "kl")


def test_made_calibration_manifest_matches_files(calib_dir):
    from drn_edge.export.calibration import read_manifest

    frames = read_manifest(calib_dir)
    assert sorted(e["file"] for e in frames) == sorted(p.name for p in calib_dir.glob("*.jpg"))
    assert all({"source", "rain_level"} <= set(e) for e in frames)


def test_shipped_ranges_match_the_shipped_checkpoints_and_nothing_else(tiny_checkpoint):
    from drn_edge.artifacts import SHIPPED_MODELS
    from drn_edge.export.calibration import shipped_ranges
    from drn_edge.outputs import sha256_file

    for name, ckpt in SHIPPED_MODELS.items():
        rec = shipped_ranges(ckpt)
        assert rec is not None, f"no shipped INT8 ranges for {name}: run python -m drn_edge.export.calibration"
        prov = rec["provenance"]
        assert prov["checkpoint_sha256"] == sha256_file(ckpt) and prov["model"] == name
        assert prov["frames"] >= 24 and all(s["licence"] for s in prov["sources"])
        assert set(rec["ort_calibration_cache"]) == {"float", "uint8"}
    assert shipped_ranges(tiny_checkpoint) is None


def test_ranges_that_do_not_cover_the_graph_are_refused(tiny_onnx, frames, tmp_path):
    import json

    reader = FrameCalibrationReader(frames, "rainy", uint8_bgr_io=False)
    quantize_int8(tiny_onnx["float"], tmp_path / "a.onnx", reader, "minmax", cache_path=tmp_path / "r.json")
    ranges = json.loads((tmp_path / "r.json").read_text())
    quantize_int8(tiny_onnx["float"], tmp_path / "b.onnx", None, "minmax", ranges=ranges)  # the same ranges, no frames
    assert (tmp_path / "a.onnx").read_bytes() == (tmp_path / "b.onnx").read_bytes()
    del ranges["data"][sorted(ranges["data"])[0]]
    with pytest.raises(CalibrationError, match="do not cover this graph.*--calib"):
        quantize_int8(tiny_onnx["float"], tmp_path / "q.onnx", None, "minmax", ranges=ranges)
    assert not (tmp_path / "q.onnx").exists()


def test_fixed_size_graph_gets_ranges_from_a_dynamic_twin(tiny_model, tiny_onnx, tmp_path, calib_dir):
    # Calibrate at 64x96 on the dynamic graph, quantize a fixed 128x192 graph from those ranges.
    from drn_edge.export.torch_to_onnx import ExportSpec, export_onnx

    frames = load_calibration_frames(calib_dir, 64, 96)[:4]
    fixed = export_onnx(tiny_model, tmp_path / "fixed.onnx", ExportSpec(128, 192, "float"))
    reader = FrameCalibrationReader(frames, "rainy", uint8_bgr_io=False)
    q = quantize_int8(fixed, tmp_path / "fixed.int8.onnx", reader, "minmax", calibration_graph=tiny_onnx["float"])
    direct = quantize_int8(tiny_onnx["float"], tmp_path / "dyn.int8.onnx", reader, "minmax")
    scales = lambda p: sorted(float(onnx.numpy_helper.to_array(i).ravel()[0]) for i in onnx.load(str(p)).graph.initializer  # noqa: E731
                              if i.name.endswith("_scale") and onnx.numpy_helper.to_array(i).size == 1)
    assert scales(q) == pytest.approx(scales(direct))  # same activation ranges
    big = load_calibration_frames(calib_dir, 128, 192)[0]
    x = np.ascontiguousarray((big.astype(np.float32) / 255).transpose(2, 0, 1)[None])
    assert np.abs(_run(q, x) - _run(fixed, x)).mean() < 0.02


def test_any_calibration_source_works_and_is_left_untouched(tiny_onnx, frames, tmp_path):
    # onnxruntime's CalibrationDataReader shape: get_next() only, no __len__/set_range.
    class Feeds:
        def __init__(self):
            self.items = [{"rainy": FrameCalibrationReader(frames, "rainy", False).feed(i)["rainy"]} for i in range(3)]
            self.calls = 0

        def get_next(self):
            self.calls += 1
            return self.items.pop(0) if self.items else None

    src = Feeds()
    q = quantize_int8(tiny_onnx["float"], tmp_path / "q.onnx", src, "minmax")
    assert q.is_file() and src.calls == 4 and not hasattr(src, "on_frame")
    reader = FrameCalibrationReader(frames, "rainy", False)
    quantize_int8(tiny_onnx["float"], tmp_path / "q2.onnx", reader, "minmax")
    assert reader.get_next() is not None  # the caller's reader was not consumed or modified


def test_the_shipped_ranges_rebuild_command_runs(tmp_path, monkeypatch):
    """python -m drn_edge.export.calibration (here on 3 small frames): both I/O graphs calibrated, the shipped file's
    tensors and provenance fields, written where RANGES_DIR says."""
    import json

    from drn_edge.export import calibration
    from tests.conftest import road_dir

    road = road_dir("comma2k19").parent
    monkeypatch.setattr(calibration, "RANGES_DIR", tmp_path)
    out = calibration.build_ranges("drn_edge", road, count=3, size=(32, 48), log=lambda *a: None)
    rebuilt = json.loads(out.read_text())
    shipped = json.loads((calibration.Path(calibration.__file__).parent / "calibration_ranges" / "drn_edge.json").read_text())
    assert set(rebuilt["ort_calibration_cache"]) == {"float", "uint8"}
    for io in ("float", "uint8"):
        assert set(rebuilt["ort_calibration_cache"][io]) == set(shipped["ort_calibration_cache"][io])
    assert set(rebuilt["provenance"]) == set(shipped["provenance"]) and rebuilt["provenance"]["frames"] == 3


@pytest.mark.parametrize("damage, why", [
    (lambda text: text[: len(text) // 2], ""),                                 # truncated
    (lambda text: re.sub(r'"data": [0-9][0-9.eE+-]*', '"data": NaN', text, count=1), "non-finite"),  # a NaN range
    (lambda text: text.replace('"uint8"', '"uint9"', 1), "no ranges for the uint8 graph"),
    (lambda text: re.sub(r'"lowest": [0-9.eE+-]+', '"lowest": 1e9', text, count=1), "has no valid range"),
])
def test_a_damaged_shipped_ranges_file_is_a_clear_error(tmp_path, monkeypatch, damage, why):
    from drn_edge.artifacts import SHIPPED_MODELS
    from drn_edge.errors import CalibrationError
    from drn_edge.export import calibration

    original = calibration.RANGES_DIR / "drn_base.json"
    (tmp_path / "drn_base.json").write_text(damage(original.read_text()))
    monkeypatch.setattr(calibration, "RANGES_DIR", tmp_path)
    with pytest.raises(CalibrationError, match=rf"ranges file '.*drn_base.json' is damaged \(.*{why}") as info:
        calibration.shipped_ranges(SHIPPED_MODELS["drn_base"])
    assert "--calib DIR" in str(info.value)
