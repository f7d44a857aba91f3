"""Contract tests of the TensorRT plumbing on CPU: the real build_plan, drn-export --onnx and TensorRT backend
driven against strict stand-ins of `tensorrt` (10.3 and 11.x) and `cuda.bindings.runtime` (tests/standins).

They prove the plumbing (names, signatures, buffers, streams, graphs, profiles, caches, error paths), not
TensorRT's numerics or speed: the stand-in runs the plan's ONNX with ONNX Runtime.
"""
from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from drn_edge.errors import EngineError, ExportError
from tests.standins import cudart as cudart_standin
from tests.standins import tensorrt as trt_standin

VERSIONS = ("10.3.0.26", "11.4.0")
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


class StandIn(types.SimpleNamespace):
    """The installed stand-ins: .trt, .cudart, .device (the emulated GPU)."""


@pytest.fixture(params=VERSIONS, ids=lambda v: f"trt{v.split('.')[0]}")
def standin(request, monkeypatch):
    device = cudart_standin.Device()
    cudart = cudart_standin.make_module(device)
    trt = trt_standin.make_module(request.param, cudart)
    cuda_pkg, bindings = types.ModuleType("cuda"), types.ModuleType("cuda.bindings")
    cuda_pkg.bindings, bindings.runtime = bindings, cudart
    for name, mod in {"tensorrt": trt, "cuda": cuda_pkg, "cuda.bindings": bindings, "cuda.bindings.runtime": cudart}.items():
        monkeypatch.setitem(sys.modules, name, mod)
    s = StandIn(trt=trt, cudart=cudart, device=device, version=request.param)
    yield s
    assert not device.device_mem and not device.host_mem, "device or pinned memory leaked"
    assert device.live_graphs == 0 and device.live_graph_execs == 0, "CUDA graphs leaked"
    assert device.live_streams == 0 and device.live_events == 0, "streams or events leaked"


@pytest.fixture(scope="module")
def exports(tmp_path_factory, tiny_checkpoint, calib_dir):
    """Real drn-export output: dynamic float I/O and fixed 64x96 uint8 I/O, each FP32 + FP16 + INT8."""
    from drn_edge.cli.export import main as export_main

    out = {}
    for io, extra in (("float", []), ("uint8", ["--size", "64x96", "--io", "uint8"])):
        d = tmp_path_factory.mktemp(f"export_{io}")
        assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(d), "--fp16", "--int8", "--no-fidelity",
                            "--calib", str(calib_dir), "--calib-size", "64x96", "--calib-method", "minmax", "--backend", "onnx",
                            *extra]) == 0
        out[io] = d
    return out


ONNX_NAME = {"fp32": "drn.onnx", "fp16": "drn.fp16.onnx", "int8": "drn.int8.onnx"}


def _build(exports, io, precision, tmp_path, capsys=None):
    """drn-export --onnx ... --backend tensorrt: the documented plan-building command, end to end."""
    from drn_edge.cli.export import main as export_main

    out = tmp_path / f"plans_{io}_{precision}"
    rc = export_main(["--onnx", str(exports[io] / ONNX_NAME[precision]), "--out", str(out), "--backend", "tensorrt",
                      "--plan-size", "64x96", "--max-batch", "2"])
    assert rc == 0, capsys.readouterr().err if capsys else rc
    plans = list(out.glob("*.plan"))
    assert len(plans) == 1
    return plans[0]


def _frames(n=2, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (64, 96, 3), dtype=np.uint8) for _ in range(n)]


def _plan_header(plan) -> dict:
    blob = plan.read_bytes()
    n = int.from_bytes(blob[len(trt_standin.MAGIC):len(trt_standin.MAGIC) + 4], "little")
    return json.loads(blob[len(trt_standin.MAGIC) + 4:len(trt_standin.MAGIC) + 4 + n])


@pytest.mark.parametrize("io", ["float", "uint8"])
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
@pytest.mark.parametrize("cuda_graph", [False, True], ids=["no-graph", "graph"])
def test_build_and_run_end_to_end(standin, exports, tmp_path, capsys, io, precision, cuda_graph):
    from drn_edge.runtime import DerainEngine
    from drn_edge.sidecar import read_sidecar

    plan = _build(exports, io, precision, tmp_path, capsys)
    record = read_sidecar(plan)
    assert record["precision"] == precision == _plan_header(plan)["precision"]  # labelled as built
    assert record["tensorrt_version"] == standin.version and record["profile"]["max_batch"] == 2
    frames = _frames(3)
    with DerainEngine(plan, use_cuda_graph=cuda_graph) as trt_engine, \
            DerainEngine(exports[io] / ONNX_NAME[precision]) as ort_engine:
        assert trt_engine.backend_name == f"tensorrt:{standin.version}"
        for batch in ([frames[0]], frames[:2], [frames[2]], frames[:2]):  # batch size changes: 1, 2, 1, 2
            got, want = trt_engine(batch), ort_engine(batch)
            for g, w in zip(got, want):
                assert g.shape == w.shape and np.abs(g.astype(int) - w.astype(int)).max() <= 1
        assert trt_engine.last_compute_ms is not None and set(trt_engine.last_split_ms) == {"h2d", "compute", "d2h"}
    assert standin.trt._state["errors"] == []


def test_tensorrt_11_refuses_a_precision_the_onnx_cannot_express(standin, exports, tmp_path):
    from drn_edge.export.tensorrt_plan import PlanSettings, build_plan

    settings = PlanSettings("fp16", 64, 96, 1, 0.5)
    if standin.version.startswith("11"):
        with pytest.raises(ExportError, match="strongly typed"):
            build_plan(exports["float"] / "drn.onnx", tmp_path / "x.plan", settings)
        assert not (tmp_path / "x.plan").exists()
    else:  # 10.3: the FP16 builder flag makes an FP16 plan from the FP32 ONNX, and says so
        record = build_plan(exports["float"] / "drn.onnx", tmp_path / "x.plan", settings)
        assert record["precision"] == "fp16" == _plan_header(tmp_path / "x.plan")["precision"]


def test_failed_allocation_leaves_nothing_stale(standin, exports, tmp_path):
    """Defect 3: cudaMalloc failing part-way must not leave a cached shape pointing at freed buffers."""
    from drn_edge.runtime import DerainEngine

    plan = _build(exports, "float", "fp32", tmp_path)
    frames = _frames(2)
    with DerainEngine(plan) as engine, DerainEngine(exports["float"] / "drn.onnx") as reference:
        first = engine(frames[0])
        standin.device.fail_malloc_at = standin.device.malloc_calls + 2  # the output buffer of the next shape
        with pytest.raises(EngineError, match="cudaErrorMemoryAllocation"):
            engine(frames)
        standin.device.fail_malloc_at = None
        again = engine(frames[0])  # the old shape again: must allocate afresh, not reuse freed memory
        assert np.array_equal(again, first) and np.abs(again.astype(int) - reference(frames[0]).astype(int)).max() <= 1


def test_failed_capture_is_ended_and_the_next_frame_runs(standin, exports, tmp_path):
    """Defect 4: an error during CUDA-graph capture must end the capture, or the stream is unusable for good."""
    from drn_edge.runtime import DerainEngine

    plan = _build(exports, "uint8", "fp32", tmp_path)
    frame = _frames(1)[0]
    with DerainEngine(plan, use_cuda_graph=True) as engine, DerainEngine(exports["uint8"] / "drn.onnx") as reference:
        standin.trt._state["fail_execute_when_capturing"] = True
        with pytest.raises(EngineError, match="execute_async_v3 failed"):
            engine([frame, frame])  # a new shape: a new capture, which fails half-way
        standin.trt._state["fail_execute_when_capturing"] = False
        standin.trt._state["errors"].clear()
        for out in engine([frame, frame]) + [engine(frame)]:
            assert np.abs(out.astype(int) - reference(frame).astype(int)).max() <= 1


def test_failed_graph_instantiation_raises_and_leaks_nothing(standin, exports, tmp_path):
    from drn_edge.runtime import DerainEngine

    plan = _build(exports, "uint8", "fp32", tmp_path)
    frame = _frames(1)[0]
    with DerainEngine(plan, use_cuda_graph=True) as engine:
        engine(frame)
        standin.device.fail_graph_instantiate = True
        with pytest.raises(EngineError, match="CUDA call failed"):
            engine([frame, frame])
        standin.device.fail_graph_instantiate = False
        assert [o.shape for o in engine([frame, frame])] == [frame.shape] * 2


def test_graphs_are_destroyed_on_shape_change_and_close(standin, exports, tmp_path):
    """Defect 5: every captured graph and graph exec is destroyed (per shape change and at close)."""
    from drn_edge.runtime import DerainEngine

    plan = _build(exports, "float", "fp32", tmp_path)
    frames = _frames(2)
    with DerainEngine(plan, use_cuda_graph=True) as engine:
        for batch in ([frames[0]], frames, [frames[1]], frames):
            engine(batch)
            assert standin.device.live_graphs <= 1 and standin.device.live_graph_execs <= 1
    assert standin.device.live_graphs == 0 and standin.device.live_graph_execs == 0


def test_rejected_input_shape_raises_instead_of_running(standin, exports, tmp_path):
    """Defect 6: set_input_shape's False (a shape outside the profile) must stop the run with a clear error."""
    from drn_edge.runtime.tensorrt_backend import TensorRTBackend

    plan = _build(exports, "float", "fp32", tmp_path)
    backend = TensorRTBackend(plan)
    try:
        with pytest.raises(EngineError, match="rejected input shape"):
            backend.run(np.zeros((3, 3, 64, 96), np.float32))  # batch 3 > the profile's max of 2
        assert backend.run(np.zeros((1, 3, 64, 96), np.float32)).shape == (1, 3, 64, 96)
    finally:
        backend.close()


def test_timing_cache_from_another_gpu_is_not_written_back(standin, exports, tmp_path):
    """Defect 6: a rejected timing cache is reported, the build goes on without it, and a fresh cache replaces it."""
    from drn_edge.export.tensorrt_plan import PlanSettings, build_plan

    cache = tmp_path / "timing.cache"
    cache.write_bytes(trt_standin.CACHE_MAGIC + json.dumps({"gpu": "NVIDIA A100", "tensorrt": standin.version,
                                                             "entries": 7}).encode())
    notes = []
    build_plan(exports["float"] / "drn.onnx", tmp_path / "a.plan", PlanSettings("fp32", 64, 96, 1, 0.5, None, str(cache)),
               log=notes.append)
    assert any("another GPU or TensorRT version" in n for n in notes)
    rec = json.loads(cache.read_bytes()[len(trt_standin.CACHE_MAGIC):])
    assert rec["gpu"] != "NVIDIA A100" and rec["entries"] == 1
    build_plan(exports["float"] / "drn.onnx", tmp_path / "b.plan", PlanSettings("fp32", 64, 96, 1, 0.5, None, str(cache)),
               log=notes.append)
    assert json.loads(cache.read_bytes()[len(trt_standin.CACHE_MAGIC):])["entries"] == 2  # reused, grown


def test_plan_from_another_tensorrt_is_refused_before_deserializing(standin, exports, tmp_path):
    from drn_edge.runtime import DerainEngine

    plan = _build(exports, "float", "fp32", tmp_path)
    side = plan.with_name(plan.name + ".json")
    rec = json.loads(side.read_text())
    rec["tensorrt_version"] = "10.0.1"
    side.write_text(json.dumps(rec))
    with pytest.raises(EngineError, match="built with TensorRT 10.0.1"):
        DerainEngine(plan)


def test_the_parser_refuses_maxunpool_graphs(standin, tmp_path):
    """The stand-in parser refuses what TensorRT's does: the exported graph must use the parser-safe unpool."""
    import onnx
    from onnx import TensorProto, helper

    from drn_edge.export.tensorrt_plan import PlanSettings, build_plan

    nodes = [helper.make_node("MaxPool", ["rainy"], ["pooled", "indices"], kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("MaxUnpool", ["pooled", "indices"], ["derained"], kernel_shape=[2, 2], strides=[2, 2])]
    graph = helper.make_graph(nodes, "unpool", [helper.make_tensor_value_info("rainy", TensorProto.FLOAT, [1, 3, 64, 96])],
                              [helper.make_tensor_value_info("derained", TensorProto.FLOAT, [1, 3, 64, 96])])
    path = tmp_path / "unpool.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    with pytest.raises(ExportError, match="MaxUnpool"):
        build_plan(path, tmp_path / "u.plan", PlanSettings("fp32", 64, 96, 1, 0.5))
    assert not (tmp_path / "u.plan").exists()


def test_standins_are_strict(standin):
    trt, cudart = standin.trt, standin.cudart
    with pytest.raises(AttributeError):
        _ = trt.BuilderFlag.NOT_A_FLAG
    with pytest.raises(AttributeError):
        _ = trt.Builder(trt.Logger()).build_engine  # removed in TensorRT 10
    with pytest.raises(TypeError):
        trt.Builder(trt.Logger()).create_network(0, 1)
    with pytest.raises(AttributeError):
        trt.Builder(trt.Logger()).create_builder_config().max_workspace_size = 1  # removed in TensorRT 10
    with pytest.raises(AttributeError):
        _ = cudart.cudaMemcpy
    with pytest.raises(TypeError):
        cudart.cudaMalloc()
    if standin.version.startswith("11"):
        with pytest.raises(AttributeError):
            _ = trt.BuilderFlag.FP16
    else:
        assert trt.BuilderFlag.FP16 is not None


def test_a_lying_plan_sidecar_is_refused_not_trusted(standin, exports, tmp_path):
    """Red-team defect 12: I/O and max batch come from the deserialized plan; a sidecar that claims otherwise
    (max batch 8 for a batch-2 plan) is refused, and a malformed one is one clear error."""
    from drn_edge.runtime.tensorrt_backend import TensorRTBackend
    from drn_edge.sidecar import sidecar_path

    plan = _build(exports, "uint8", "fp32", tmp_path)
    backend = TensorRTBackend(plan)
    try:
        assert backend.io.max_batch == 2 and (backend.io.height, backend.io.width) == (64, 96) and backend.io.uint8_bgr
    finally:
        backend.close()
    side = sidecar_path(plan)
    rec = json.loads(side.read_text())
    side.write_text(json.dumps({**rec, "profile": {**rec["profile"], "max_batch": 8}}))
    with pytest.raises(EngineError, match="does not describe this plan.*max batch 8.*max batch 2"):
        TensorRTBackend(plan)
    side.write_text(json.dumps({**rec, "io": {"inputs": []}}))
    with pytest.raises(EngineError, match="malformed"):
        TensorRTBackend(plan)
