"""The plan-building and benchmark paths run where torch is not installed (the Jetson image has none)."""
import subprocess
import sys

BLOCK_TORCH = """
import sys
class _NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, _NoTorch())
"""


def _run(code: str):
    return subprocess.run([sys.executable, "-c", BLOCK_TORCH + code], capture_output=True, text=True, timeout=300)


def test_plan_build_path_needs_no_torch(tiny_onnx, tmp_path):
    res = _run(f"from drn_edge.cli.export import main\nrc = main(['--onnx', {str(tiny_onnx['float'])!r}, '--out', "
               f"{str(tmp_path)!r}])\nassert 'torch' not in sys.modules\nsys.exit(rc)")
    # It gets as far as TensorRT itself, which is what this machine lacks.
    assert res.returncode == 2, res.stderr
    assert "cannot build a TensorRT plan here" in res.stderr and "tensorrt" in res.stderr
    assert "Traceback" not in res.stderr


def test_bench_without_torch_runs_to_the_end(tiny_onnx, tmp_path):
    out = tmp_path / "r.json"
    res = _run(f"from drn_edge.cli.bench import main\nrc = main(['--engine', {str(tiny_onnx['float'])!r}, "
               f"'--no-pytorch', '--size', '32x48', '--frames', '3', '--warmup', '1', '--warmup-seconds', '0', "
               f"'--json', {str(out)!r}, '--no-progress'])\nassert 'torch' not in sys.modules\nsys.exit(rc)")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "fidelity vs clean only" in res.stdout and out.is_file()
    import json

    row = json.loads(out.read_text())["rows"][0]
    assert set(row["fidelity"]) == {"low", "medium", "high"} and "psnr_vs_fp32" not in row["fidelity"]["medium"]


def test_video_and_stream_benches_need_no_torch(tiny_onnx, tmp_path):
    from tests.bench.test_video_bench import _clean_clip

    clip = _clean_clip(tmp_path / "c.mp4", frames=3)
    engine = str(tiny_onnx["float"])
    res = _run("from drn_edge.cli.bench import main\n"
               f"assert main(['video', {str(clip)!r}, '--frames', '3', '--engine', {engine!r}, '--size', '96x128', "
               "'--no-progress']) == 0\n"
               f"assert main(['streams', '--cameras', '2', '--fps', '10', '--seconds', '0.5', '--engine', {engine!r}, "
               "'--size', '32x48', '--no-progress']) == 0\n"
               "assert 'torch' not in sys.modules")
    assert res.returncode == 0, res.stderr[-3000:]
    assert "no PyTorch eager row" in res.stdout and "cam1" in res.stdout


BLOCK_TORCH_AND_SKIMAGE = BLOCK_TORCH.replace('name == "torch" or name.startswith("torch.")',
                                              'name.split(".")[0] in ("torch", "skimage")')


def test_the_jetson_install_runs_bench_eval_and_inspect_on_the_users_frames(tiny_onnx, tmp_path):
    """The Docker images install neither torch nor scikit-image: drn-bench and drn-eval crashed with tracebacks
    on their default frames. On the user's frames they run; without any, one line says what to pass."""
    import numpy as np

    from drn_edge.imageio import write_image

    frames = tmp_path / "frames"
    frames.mkdir()
    for i in range(2):
        write_image(frames / f"f{i}.png", np.full((32, 48, 3), 60 + 40 * i, np.uint8))
    engine = str(tiny_onnx["float"])
    code = (f"from drn_edge.cli.bench import main as bench\nfrom drn_edge.cli.evaluate import main as ev\n"
            f"from drn_edge.cli.inspect import main as inspect\n"
            f"assert bench(['--engine', {engine!r}, '--eval', {str(frames)!r}, '--size', '32x48', '--frames', '2', "
            f"'--warmup', '1', '--warmup-seconds', '0', '--no-progress']) == 0\n"
            f"assert ev(['--engine', {engine!r}, '--road', {str(frames)!r}, '--sizes', '32x48', '--no-generators', "
            f"'--no-progress']) == 0\n"
            f"assert inspect([{engine!r}]) == 0\n"
            f"assert bench(['--engine', {engine!r}, '--size', '32x48', '--no-progress']) == 2\n"
            "assert 'torch' not in sys.modules and 'skimage' not in sys.modules")
    res = subprocess.run([sys.executable, "-c", BLOCK_TORCH_AND_SKIMAGE + code], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "error: the default frames (scikit-image's bundled photos" in res.stderr and "Traceback" not in res.stderr
