import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from drn_edge.cli.export import main as export_main
from drn_edge.errors import EngineError
from drn_edge.export.triton import model_config, write_model_repository
from drn_edge.sidecar import read_sidecar, write_sidecar


def _parse(path):
    return text_format.Parse(path.read_text(), mc.ModelConfig())


def test_export_writes_a_repository_that_matches_the_sidecar(tiny_checkpoint, tmp_path):
    out, repo = tmp_path / "out", tmp_path / "repo"
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(out), "--height", "64", "--width", "96",
                        "--io", "uint8", "--no-fidelity", "--triton", str(repo), "--max-batch", "4"]) == 0
    cfg = _parse(repo / "drn" / "config.pbtxt")
    side = read_sidecar(out / "drn.onnx")
    assert cfg.name == "drn" and cfg.platform == "onnxruntime_onnx" and cfg.max_batch_size == 4
    assert cfg.input[0].name == side["io"]["inputs"][0]["name"] == "frame_bgr"
    assert cfg.input[0].data_type == mc.TYPE_UINT8 and list(cfg.input[0].dims) == [64, 96, 3]
    assert cfg.output[0].name == "derained_bgr" and list(cfg.output[0].dims) == [64, 96, 3]
    assert cfg.HasField("dynamic_batching")
    assert (repo / "drn" / "1" / "model.onnx").read_bytes() == (out / "drn.onnx").read_bytes()
    assert read_sidecar(out / "drn.onnx")["sha256"] == __import__("json").loads((repo / "drn" / "provenance.json").read_text())["sha256"]


def test_plan_record_gives_tensorrt_platform_and_profile_batch():
    rec = {"kind": "tensorrt-plan", "profile": {"max_batch": 8},
           "io": {"inputs": [{"name": "rainy", "dtype": "float32", "shape": [8, 3, 720, 1280]}],
                  "outputs": [{"name": "derained", "dtype": "float32", "shape": [None, 3, None, None]}]}}
    cfg = text_format.Parse(model_config(rec), mc.ModelConfig())
    assert cfg.platform == "tensorrt_plan" and cfg.max_batch_size == 8
    assert list(cfg.input[0].dims) == [3, 720, 1280] and list(cfg.output[0].dims) == [3, 720, 1280]
    assert cfg.instance_group[0].kind == mc.ModelInstanceGroup.KIND_GPU


def test_dynamic_onnx_gets_variable_dims(tiny_onnx):
    cfg = text_format.Parse(model_config(read_sidecar(tiny_onnx["float"]), gpu=False), mc.ModelConfig())
    assert list(cfg.input[0].dims) == [3, -1, -1] and cfg.max_batch_size == 1


def test_unverifiable_artifact_is_refused(tiny_onnx, tmp_path):
    p = tmp_path / "drn.onnx"
    p.write_bytes(tiny_onnx["float"].read_bytes())
    with pytest.raises(EngineError, match="no sidecar"):
        write_model_repository(p, tmp_path / "repo")
    write_sidecar(p, {"kind": "onnx", "io": {}})
    p.write_bytes(b"changed")
    with pytest.raises(EngineError, match="does not match"):
        write_model_repository(p, tmp_path / "repo")
