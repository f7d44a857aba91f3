import json
import shutil
import subprocess

import jsonschema
import numpy as np
import pytest

from drn_edge.bench.frame_bench import latency_stats
from drn_edge.cli.bench import main
from tests.conftest import REPO, SHARED

SCHEMA = json.loads((REPO / "drn_edge" / "bench" / "schema.json").read_text())


@pytest.fixture(scope="module")
def report(tmp_path_factory, tiny_checkpoint, tiny_onnx):
    import shutil

    out = tmp_path_factory.mktemp("bench")
    twin = out / "twin.onnx"  # a second engine file (one file named twice is refused)
    shutil.copy(tiny_onnx["float"], twin)
    shutil.copy(f"{tiny_onnx['float']}.json", f"{twin}.json")
    rc = main(["--engine", str(tiny_onnx["float"]), "--engine", str(twin), "--checkpoint", str(tiny_checkpoint),
               "--height", "64", "--width", "96", "--frames", "4", "--warmup", "1", "--warmup-seconds", "0",
               "--json", str(out / "r.json"), "--markdown", str(out / "r.md"), "--plot", str(out / "lat.png"),
               "--grid", str(out / "grid.png"), "--no-progress"])
    assert rc == 0
    return out


def test_json_report_validates_against_schema(report):
    data = json.loads((report / "r.json").read_text())
    jsonschema.validate(data, SCHEMA)
    labels = [r["label"] for r in data["rows"]]
    assert labels[0].startswith("pytorch-eager-fp32") and len(labels) == 3
    row = data["rows"][1]
    assert row["latency"]["end_to_end_ms"]["n"] == 4 and set(row["fidelity"]) == {"low", "medium", "high"}
    # The exported FP32 graph reproduces the PyTorch FP32 reference it came from.
    assert row["fidelity"]["medium"]["psnr_vs_fp32"] > 60 and abs(row["drop_db"]["medium"]) < 0.05
    assert data["rows"][0]["speedup_vs_first"] == 1.0
    assert data["environment"]["cores"] >= 1 and "onnxruntime" in data["environment"]["versions"]


def test_schema_rejects_a_broken_report(report):
    data = json.loads((report / "r.json").read_text())
    del data["rows"][0]["latency"]["end_to_end_ms"]["p99"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, SCHEMA)


def test_markdown_plot_and_grid_are_written(report):
    md = (report / "r.md").read_text()
    assert "| engine | precision | median ms" in md and "medium PSNR (drop)" in md
    import cv2

    assert cv2.imread(str(report / "lat.png")) is not None
    grid = cv2.imread(str(report / "grid.png"))
    assert grid is not None and grid.shape[1] > grid.shape[0]


def test_latency_stats_hand_values():
    s = latency_stats([10.0, 20.0, 30.0, 40.0], deadline_ms=25.0)
    assert s["median"] == 25.0 and s["mean"] == 25.0 and s["min"] == 10.0 and s["max"] == 40.0
    assert s["deadline_misses"] == 2 and s["fps"] == pytest.approx(40.0)
    assert s["cv"] == pytest.approx(np.std([10, 20, 30, 40]) / 25.0)


def test_errors(tmp_path, capsys):
    assert main(["--compare", "fp16", "--export-dir", str(tmp_path), "--no-progress"]) == 2
    assert "run drn-export --fp16" in capsys.readouterr().err
    assert main(["--compare", "int4", "--export-dir", str(tmp_path)]) == 2
    assert "--compare takes" in capsys.readouterr().err
    assert main(["--engine", str(tmp_path / "x.onnx")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_reference_follows_sidecars_and_refuses_unknown_sources(tmp_path, tiny_checkpoint, tiny_model):
    import shutil

    from drn_edge.bench.candidates import reference_checkpoint
    from drn_edge.errors import DrnEdgeError
    from drn_edge.export.torch_to_onnx import ExportSpec, export_onnx
    from drn_edge.outputs import sha256_file
    from drn_edge.sidecar import write_sidecar

    onnx_path = export_onnx(tiny_model, tmp_path / "drn.onnx", ExportSpec())
    shutil.copy(tiny_checkpoint, tmp_path / "tiny.safetensors")
    write_sidecar(onnx_path, {"kind": "onnx", "source": {"file": "tiny.safetensors", "kind": "checkpoint",
                                                         "sha256": sha256_file(tiny_checkpoint)}})
    assert reference_checkpoint(str(onnx_path)) == str(tmp_path / "tiny.safetensors")
    (tmp_path / "tiny.safetensors").unlink()
    with pytest.raises(DrnEdgeError, match="pass --checkpoint"):
        reference_checkpoint(str(onnx_path))


def test_bench_warns_about_few_frames_and_reports_batch_and_split(tiny_onnx, tmp_path, capsys):
    out = tmp_path / "r.json"
    rc = main(["--engine", str(tiny_onnx["float"]), "--no-pytorch", "--size", "32x48", "--frames", "4", "--warmup", "1",
               "--warmup-seconds", "0", "--batch", "3", "--no-fidelity", "--json", str(out), "--no-progress",
               "--threads", "1"])
    assert rc == 0
    text = capsys.readouterr().out
    data = json.loads(out.read_text())
    assert any("p99 from 4 timed frames is not meaningful" in w for w in data["warnings"])
    lat = data["rows"][0]["latency"]
    assert lat["batch"]["size"] == 3 and lat["batch"]["frames_per_s"] > 0
    assert lat["transfer_split_ms"] == "not measurable on this backend"
    assert "host-to-device / compute / device-to-host: not measurable" in text and "WARNING" in text
    assert data["size"] == [32, 48] and data["settings"]["threads"] == 1


def test_bench_bad_numbers_are_refused_before_work(tiny_onnx, tmp_path, capsys):
    assert main(["--engine", str(tiny_onnx["float"]), "--fps", "-30"]) == 2
    assert "--fps must be a finite number above 0" in capsys.readouterr().err
    (tmp_path / "f").write_text("x")
    assert main(["--engine", str(tiny_onnx["float"]), "--json", str(tmp_path / "f" / "r.json")]) == 2
    assert "cannot write" in capsys.readouterr().err


@pytest.mark.skipif(not (SHARED / "eval" / "rain200h").is_dir(),
                    reason="../shared/eval/rain200h not present")
def test_grid_uses_the_users_pairs(tiny_onnx, tmp_path):
    import cv2

    pairs = SHARED / "eval" / "rain200h"
    grid = tmp_path / "g.png"
    assert main(["--engine", str(tiny_onnx["float"]), "--no-pytorch", "--size", "32x48", "--frames", "2",
                 "--warmup", "0", "--warmup-seconds", "0", "--pairs", str(pairs), "--grid", str(grid),
                 "--no-progress"]) == 0
    img = cv2.imread(str(grid))
    # three Rain200H rows (fitted to 32x48, shown 240 high plus a 26 px label bar each)
    assert img.shape[0] == 3 * (240 + 26)


def test_gpu_check_script_runs_its_cpu_paths(tmp_path):
    # The GPU check cannot run here; its measuring script can, on the CPU, with tiny settings.
    import subprocess
    import sys

    root = REPO
    res = subprocess.run([sys.executable, str(root / "benchmarks" / "gpu_check.py"), "--sizes", "32x48", "--frames", "2",
                          "--warmup", "1", "--device", "cpu", "--no-compile", "--out", str(tmp_path)], capture_output=True, text=True,
                         timeout=600, cwd=root, env={**__import__("os").environ, "PYTHONPATH": str(root)})
    assert res.returncode == 0, res.stderr[-2000:]
    data = json.loads((tmp_path / "pytorch_cuda.json").read_text())
    assert data["device"] == "cpu" and any(r["variant"] == "fp32" and r["median_ms"] > 0 for r in data["rows"])
    assert "| drn_base | 32x48 | fp32 |" in (tmp_path / "pytorch_cuda.md").read_text()


def test_gpu_check_survives_a_measurement_whose_process_dies_or_raises():
    # A CUDA fault (the 1920x1080 CUDA-graph replay on the first GPU run) poisons its process: each model and size is
    # measured in a process of its own, and a death or an exception becomes a message, not the end of the report.
    import importlib.util
    import os

    spec = importlib.util.spec_from_file_location("gpu_check", REPO / "benchmarks" / "gpu_check.py")
    gpu_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_check)
    assert gpu_check.isolated(divmod, 7, 2) == ((3, 1), None)
    result, error = gpu_check.isolated(os._exit, 3)
    assert result is None and error.startswith("BrokenProcessPool")
    result, error = gpu_check.isolated(int, "not a number")
    assert result is None and error.startswith("ValueError") and "not a number" in error


def test_compare_finds_each_precision_and_refuses_stale_or_missing_ones(tiny_onnx, tmp_path):
    import shutil

    from drn_edge.bench.candidates import compare_engines
    from drn_edge.errors import DrnEdgeError
    from drn_edge.outputs import sha256_file
    from drn_edge.sidecar import read_sidecar, write_sidecar

    d = tmp_path / "exp"
    d.mkdir()
    shutil.copy(tiny_onnx["float"], d / "drn.onnx")
    write_sidecar(d / "drn.onnx", read_sidecar(tiny_onnx["float"]))
    shutil.copy(tiny_onnx["float"], d / "drn.int8.onnx")
    record = {**read_sidecar(tiny_onnx["float"]), "source": {"file": "drn.onnx", "sha256": sha256_file(d / "drn.onnx")}}
    write_sidecar(d / "drn.int8.onnx", record)
    assert compare_engines(str(d), "fp32, int8", "auto") == [str(d / "drn.onnx"), str(d / "drn.int8.onnx")]
    with pytest.raises(DrnEdgeError, match="run drn-export --fp16 --out"):
        compare_engines(str(d), "fp16", "auto")
    with pytest.raises(DrnEdgeError, match="--compare takes fp32, fp16, int8"):
        compare_engines(str(d), "bf16", "auto")
    write_sidecar(d / "drn.int8.onnx", {**record, "source": {"file": "drn.onnx", "sha256": "0" * 64}})
    with pytest.raises(DrnEdgeError, match="stale"):
        compare_engines(str(d), "int8", "auto")
    with pytest.raises(DrnEdgeError, match="--compare names fp32 more than once; .* --compare fp32,int8"):
        compare_engines(str(d), "fp32,int8,fp32", "auto")


def test_one_engine_named_twice_is_refused(tiny_onnx, tmp_path, capsys):
    engine = str(tiny_onnx["float"])
    assert main(["--engine", engine, "--engine", engine, "--no-progress"]) == 2
    assert "is named twice" in capsys.readouterr().err


def test_fidelity_columns_never_run_together():
    """A cell 'PSNR (drop +d) | vs-FP32' is wider than a fixed column: the table sizes its columns to the cells."""
    import re

    from drn_edge.bench.report import format_table

    report = json.loads((REPO / "benchmarks" / "results" / "cpu" / "drn_edge-360x640.json").read_text())
    text = format_table(report)
    rows = text.split("fidelity: ", 1)[1].split("\n\n", 1)[0].split("\n")[2:]
    levels = len(report["rows"][0]["fidelity"])
    for row in rows:
        assert len(re.split(r"\s{2,}", row.strip())) == 1 + levels, row


@pytest.mark.parametrize("script, says", [("gpu_data.sh", "../shared/data/road/permissive not found"),
                                           ("gpu_session.sh", "gpu_data/ is not here: run bash benchmarks/gpu_data.sh")])
def test_gpu_session_scripts_say_what_is_missing(tmp_path, script, says):
    # The scripts run from their checkout's root: a copy in a folder with neither ../shared nor gpu_data/ beside it.
    (tmp_path / "repo" / "benchmarks").mkdir(parents=True)
    for name in (script, "permissive_train.sh"):
        shutil.copy(REPO / "benchmarks" / name, tmp_path / "repo" / "benchmarks" / name)
    res = subprocess.run(["bash", str(tmp_path / "repo" / "benchmarks" / script), "1", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 2 and says in res.stderr
    assert not (tmp_path / "repo" / "gpu_data").exists()  # nothing half-made
