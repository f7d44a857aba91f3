"""The wheel works on its own: built, installed into a fresh virtual environment, run from an empty folder.

The fresh environment gets the wheel alone (no source tree on its path); its third-party
dependencies are borrowed from the test's environment through a .pth line, so nothing is
downloaded and anything the defaults need must be inside the wheel.
"""
import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(cmd, cwd, env, timeout=600):
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert res.returncode == 0, f"{' '.join(map(str, cmd))}\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    return res.stdout


@pytest.mark.slow
def test_wheel_runs_the_defaults_from_an_empty_folder(tmp_path):
    dist = tmp_path / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(dist), str(ROOT)],
         tmp_path, os.environ.copy())
    wheel = next(dist.glob("drn_edge-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for needed in ("drn_edge/weights/drn_base.safetensors", "drn_edge/weights/drn_edge.safetensors",
                   "drn_edge/export/calibration_ranges/drn_base.json", "drn_edge/export/calibration_ranges/drn_edge.json",
                   "drn_edge/export/presets/jetson-orin-nano.json", "drn_edge/bench/schema.json"):
        assert needed in names, needed
    images = [n for n in names if n.lower().endswith((".jpg", ".jpeg", ".png", ".mp4", ".avi", ".bmp", ".webp"))]
    assert not images, f"the wheel carries image or video files: {images}"

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], tmp_path, os.environ.copy())
    py = venv / "bin" / "python"
    site = Path(_run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path,
                     os.environ.copy()).strip())
    (site / "borrowed_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run([str(py), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], tmp_path, os.environ.copy())

    work = tmp_path / "empty"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "DRN_CALIBRATION_DIR")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    where = _run([str(py), "-c", "import drn_edge; print(drn_edge.__file__)"], work, env)
    assert str(venv) in where and str(ROOT) not in where  # the wheel, not the checkout

    out = _run(["drn-export", "--int8"], work, env)
    assert "shipped ranges of drn_base" in out and (work / "drn_export" / "drn.int8.onnx").is_file()
    out = _run(["drn-export", "--checkpoint", "drn_edge", "--int8", "--out", "edge", "--no-fidelity"], work, env)
    assert "shipped ranges of drn_edge" in out and (work / "edge" / "drn.int8.onnx").is_file()
    # A checkpoint that is not a shipped one has no shipped ranges: one clear line naming --calib.
    _run([str(py), "-c", "from drn_edge.model.checkpoint import load_checkpoint, save_checkpoint; "
                         "save_checkpoint(load_checkpoint('" + str(ROOT / "drn_edge" / "weights" / "drn_edge.safetensors")
          + "')[0], 'mine.safetensors', {'note': 'my own fine-tune'})"], work, env)
    res = subprocess.run(["drn-export", "--checkpoint", "mine.safetensors", "--int8", "--out", "mine"], cwd=work,
                         env=env, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "--calib DIR" in res.stderr and "Traceback" not in res.stderr, res.stderr
    assert not (work / "mine" / "drn.onnx").exists()  # refused before anything was written
    out = _run(["drn-eval", "--sizes", "64x96", "--no-progress"], work, env)
    assert "held-out 96x64" in out and "particles/medium" in out
    cv2.imwrite(str(work / "rainy.png"), np.random.default_rng(0).integers(0, 255, (40, 64, 3), dtype=np.uint8))
    out = _run(["drn-derain", "rainy.png", "--engine", "drn_export/drn.int8.onnx", "--out", "derained"], work, env)
    assert (work / "derained" / "rainy.png").is_file()
    out = _run(["drn-bench", "--engine", "drn_export/drn.int8.onnx", "--height", "64", "--width", "96", "--frames", "3",
                "--warmup", "1", "--warmup-seconds", "0", "--no-progress"], work, env)
    assert "drn.int8.onnx" in out
