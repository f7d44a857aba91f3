"""TensorRT plan build + DerainEngine on a GPU. Skipped (with the reason) where TensorRT or a GPU is missing."""
import numpy as np
import pytest

from drn_edge.export.tensorrt_plan import PlanSettings, build_plan, tensorrt_available

TRT_OK, TRT_REASON = tensorrt_available()
pytestmark = [pytest.mark.gpu, pytest.mark.tensorrt,
              pytest.mark.skipif(not TRT_OK, reason=f"needs TensorRT and a CUDA GPU: {TRT_REASON}")]


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
@pytest.mark.parametrize("cuda_graph", [False, True])
def test_plan_builds_runs_and_matches_onnxruntime(tiny_onnx, bgr_frame, tmp_path, precision, cuda_graph):
    from drn_edge.runtime import DerainEngine

    plan = tmp_path / f"drn.{precision}.plan"
    record = build_plan(tiny_onnx["uint8_fixed"], plan, PlanSettings(precision, 64, 96, 2, 0.5, None, str(tmp_path / "tc")))
    assert record["kind"] == "tensorrt-plan" and (tmp_path / "tc").is_file()
    with DerainEngine(plan, use_cuda_graph=cuda_graph) as trt_engine, DerainEngine(tiny_onnx["uint8_fixed"]) as ort_engine:
        a, b = trt_engine(bgr_frame), ort_engine(bgr_frame)
        assert a.shape == b.shape and np.abs(a.astype(int) - b.astype(int)).mean() < 1.0
        assert [o.shape for o in trt_engine([bgr_frame, bgr_frame])] == [bgr_frame.shape] * 2


def test_plan_from_other_tensorrt_version_is_refused(tiny_onnx, tmp_path):
    import json

    from drn_edge.errors import EngineError
    from drn_edge.runtime import DerainEngine

    plan = tmp_path / "drn.plan"
    build_plan(tiny_onnx["uint8_fixed"], plan, PlanSettings("fp32", 64, 96, 1, 0.5))
    side = tmp_path / "drn.plan.json"
    rec = json.loads(side.read_text())
    rec["tensorrt_version"] = "9.0.0"
    side.write_text(json.dumps(rec))
    with pytest.raises(EngineError, match="built with TensorRT 9.0.0"):
        DerainEngine(plan)


@pytest.fixture
def bgr_frame(frame_rgb):
    return np.ascontiguousarray(frame_rgb[..., ::-1])

