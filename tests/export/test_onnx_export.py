import onnx
import pytest

from drn_edge.errors import ExportError
from drn_edge.export.torch_to_onnx import TENSORRT_OPS, ExportSpec, check_parity, export_onnx, io_description
from drn_edge.model.drn import MODEL_FACTORIES

FORBIDDEN = {"MaxUnpool", "MaxPool", "ScatterND", "ScatterElements"}


@pytest.mark.parametrize("name", sorted(MODEL_FACTORIES))
@pytest.mark.parametrize("spec", [ExportSpec(), ExportSpec(32, 48, "uint8")], ids=["dynamic-float", "fixed-uint8"])
def test_every_variant_exports_with_tensorrt_parsable_ops_only(name, spec, tmp_path):
    import torch

    torch.manual_seed(0)
    model = MODEL_FACTORIES[name]().eval()
    path = export_onnx(model, tmp_path / "m.onnx", spec)
    graph = onnx.load(str(path))
    ops = {n.op_type for n in graph.graph.node}
    assert ops <= TENSORRT_OPS, ops - TENSORRT_OPS
    assert not ops & FORBIDDEN
    assert all(o.name != "indices" for n in graph.graph.node for o in n.output if n.op_type == "MaxPool")
    assert graph.opset_import[0].version >= 17


def test_parity_float_dynamic(tiny_model, tiny_onnx, frame_rgb):
    p = check_parity(tiny_onnx["float"], tiny_model, frame_rgb)
    # Mean and tail, not max: near-tied window maxima can flip under float reordering.
    assert p.mean_abs < 1e-5 and p.p999_abs < 1e-3


def test_parity_uint8_fixed_frame_io(tiny_model, tiny_onnx, frame_rgb):
    p = check_parity(tiny_onnx["uint8_fixed"], tiny_model, frame_rgb)
    assert p.mean_abs < 1e-3 and p.max_abs <= 1 / 255 + 1e-6


def test_io_description(tiny_onnx):
    d = io_description(tiny_onnx["uint8_fixed"])
    assert d["inputs"] == [{"name": "frame_bgr", "dtype": "uint8", "shape": [None, 64, 96, 3]}]
    assert d["outputs"][0]["shape"] == [None, 64, 96, 3]  # a fixed-size graph declares its output size too
    assert io_description(tiny_onnx["float"])["inputs"][0]["shape"] == [None, 3, None, None]


def test_bad_specs_are_clear():
    with pytest.raises(ExportError, match="multiple of 8"):
        ExportSpec(100, 640)
    with pytest.raises(ExportError, match="give --size HxW for a fixed-size export"):
        ExportSpec(360, None)
    with pytest.raises(ExportError, match="io must be"):
        ExportSpec(io="fp16")
    with pytest.raises(ExportError, match="--opset must be between 17 and 20"):
        ExportSpec(opset=99)
    with pytest.raises(ExportError, match="above 4096"):
        ExportSpec(8, 65536)


def test_failed_export_leaves_no_file(tmp_path, tiny_model, monkeypatch):
    import drn_edge.export.torch_to_onnx as ox

    monkeypatch.setattr(ox, "unsupported_ops", lambda g: {"MaxUnpool"})
    with pytest.raises(ExportError, match="MaxUnpool"):
        export_onnx(tiny_model, tmp_path / "m.onnx")
    assert list(tmp_path.iterdir()) == []
