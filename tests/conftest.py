from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")

REPO = Path(__file__).resolve().parent.parent
SHARED_EVAL = REPO.parent / "shared" / "eval" / "rain200h"


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

    from drn_edge.model import drn_tiny

    torch.manual_seed(0)
    return drn_tiny().eval()


@pytest.fixture(scope="session")
def frame_rgb():
    """A real held-out photo with medium rain, 64x96 (fast on CPU)."""
    from drn_edge.data import heldout_pairs

    name, rainy, clean = heldout_pairs("medium", max_side=200)[0]
    return np.ascontiguousarray(rainy[:64, :96])


def relu_sparse_ties(shape, seed=0):
    """ReLU-like tensor with many all-zero windows and repeated values (ties), as after a ReLU conv."""
    import torch

    g = torch.Generator().manual_seed(seed)
    return torch.relu(torch.randint(-3, 3, shape, generator=g).float())
