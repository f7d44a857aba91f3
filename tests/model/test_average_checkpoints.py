"""benchmarks/average_checkpoints.py: the mean of a run's checkpoints, refused across architectures."""
import subprocess
import sys

import torch

from drn_edge.model.checkpoint import load_checkpoint, save_checkpoint
from drn_edge.model.drn import MODEL_FACTORIES
from tests.conftest import REPO

SCRIPT = REPO / "benchmarks" / "average_checkpoints.py"


def test_weights_are_averaged_and_architectures_must_match(tmp_path):
    torch.manual_seed(0)
    a, b = MODEL_FACTORIES["drn_tiny"](), MODEL_FACTORIES["drn_tiny"]()
    save_checkpoint(a, tmp_path / "a.safetensors", {"step": 100})
    save_checkpoint(b, tmp_path / "b.safetensors", {"step": 200})
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "m.safetensors"), str(tmp_path / "a.safetensors"),
                          str(tmp_path / "b.safetensors")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    mean, info, _ = load_checkpoint(tmp_path / "m.safetensors")
    for k, v in mean.state_dict().items():
        assert torch.allclose(v, (a.state_dict()[k] + b.state_dict()[k]) / 2, atol=1e-6)
    assert info["averaged_steps"] == [100, 200]
    save_checkpoint(MODEL_FACTORIES["drn_base"](), tmp_path / "c.safetensors", {"step": 300})
    out = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path / "n.safetensors"), str(tmp_path / "a.safetensors"),
                          str(tmp_path / "c.safetensors")], capture_output=True, text=True)
    assert out.returncode != 0 and "another architecture" in out.stderr and not (tmp_path / "n.safetensors").exists()
