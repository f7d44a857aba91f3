from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
SHARED_EVAL = SHARED / "eval" / "rain200h"
ROAD = SHARED / "data" / "road" / "permissive"


def road_dir(name: str) -> Path:
    """A permissive road folder read from ../shared (never copied into the project); skip when absent."""
    path = ROAD / name
    if not path.is_dir():
        pytest.skip(f"needs ../shared/data/road/permissive/{name} beside the checkout (absent here)")
    return path


@pytest.fixture(scope="session", autouse=True)
def _ctrl_c_raises():
    """Tests that send SIGINT expect Ctrl-C's KeyboardInterrupt; a shell that starts the suite in the background
    (`cmd &` without job control) leaves SIGINT ignored, and Python then never installs its handler."""
    import signal

    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def _torch_threads():
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:
        pass


@pytest.fixture(scope="session")
def tiny_model():
    import torch

    from drn_edge.model.drn import drn_tiny

    torch.manual_seed(0)
    return drn_tiny().eval()


@pytest.fixture(scope="session")
def calib_dir(tmp_path_factory):
    """A small calibration folder: rainy crops of scikit-image photos (what drn-export --calib takes)."""
    from drn_edge.export.calibration import make_calibration_set

    d = tmp_path_factory.mktemp("calib")
    make_calibration_set(d, count=6, height=64, width=96)
    return d


@pytest.fixture(scope="session")
def frame_rgb():
    """A real held-out photo with medium rain, 64x96 (fast on CPU)."""
    from drn_edge.evaluation.eval_frames import heldout_sources, rain_frames

    frame = rain_frames(heldout_sources(max_side=200)[:1], ("medium",))[0]
    return np.ascontiguousarray(frame.rainy[:64, :96])


def relu_sparse_ties(shape, seed=0):
    """ReLU-like tensor with many all-zero windows and repeated values (ties), as after a ReLU conv."""
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.relu(torch.randint(-3, 3, shape, generator=g).float())


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory, tiny_model):
    from drn_edge.model.checkpoint import save_checkpoint

    return save_checkpoint(tiny_model, tmp_path_factory.mktemp("ckpt") / "tiny.safetensors")


@pytest.fixture(scope="session")
def tiny_onnx(tmp_path_factory, tiny_model):
    """Real exported graphs of the tiny model: dynamic float I/O and fixed 64x96 uint8 I/O, with sidecars."""
    from drn_edge.export.torch_to_onnx import ExportSpec, export_onnx, io_description
    from drn_edge.sidecar import write_sidecar

    d = tmp_path_factory.mktemp("onnx")
    out = {}
    for key, spec in {"float": ExportSpec(), "uint8_fixed": ExportSpec(64, 96, "uint8")}.items():
        p = export_onnx(tiny_model, d / f"drn_{key}.onnx", spec)
        write_sidecar(p, {"kind": "onnx", "precision": "fp32", "io": io_description(p)})
        out[key] = p
    return out
