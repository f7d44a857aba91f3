import json

import pytest
import torch

import drn_edge
from drn_edge.errors import CheckpointError
from drn_edge.model.checkpoint import SHIPPED_CHECKPOINT, load_checkpoint, save_checkpoint
from drn_edge.model.drn import DRN, DRNConfig


def test_roundtrip_preserves_config_weights_and_info(tiny_model, tmp_path):
    path = save_checkpoint(tiny_model, tmp_path / "m.safetensors", {"note": "x"})
    model, info, extra = load_checkpoint(path)
    assert model.cfg == tiny_model.cfg and info == {"note": "x"} and extra == {}
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(model(x), tiny_model(x))
    assert (path.stat().st_mode & 0o777) != 0o600, "artifacts must not be left private by mkstemp"


def test_shipped_model_loads():
    assert SHIPPED_CHECKPOINT.is_file()
    model = drn_edge.load_model()
    assert isinstance(model, DRN) and not model.training
    assert model.cfg.name == "drn_base"


def test_missing_file(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        drn_edge.load_model(tmp_path / "nope.safetensors")


def test_truncated_file_is_a_clear_error(tiny_model, tmp_path):
    path = save_checkpoint(tiny_model, tmp_path / "m.safetensors")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        drn_edge.load_model(path)


def test_pickles_are_refused_before_reading(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"\x80\x04not really")
    with pytest.raises(CheckpointError, match="pickle"):
        drn_edge.load_model(path)


def test_safetensors_without_config(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(path))
    with pytest.raises(CheckpointError, match="no 'drn_config'"):
        drn_edge.load_model(path)


def test_config_that_does_not_match_the_weights(tiny_model, tmp_path):
    from safetensors.torch import save_file

    cfg = tiny_model.cfg.to_dict()
    cfg["encoder"][0]["growth"] = [5, 4]  # weights say 4
    tensors = {k: v.contiguous() for k, v in tiny_model.state_dict().items()}
    path = tmp_path / "bad.safetensors"
    save_file(tensors, str(path), metadata={"drn_config": json.dumps(cfg)})
    with pytest.raises(CheckpointError, match="shapes do not match"):
        drn_edge.load_model(path)


def test_invalid_config_json(tmp_path, tiny_model):
    from safetensors.torch import save_file

    path = tmp_path / "bad.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_model.state_dict().items()}, str(path),
              metadata={"drn_config": "{not json"})
    with pytest.raises(CheckpointError, match="invalid model config"):
        drn_edge.load_model(path)
    # A config that parses but breaks the pool/unpool rule is also reported, not built.
    cfg = tiny_model.cfg.to_dict()
    cfg["bottleneck"]["out"] = 99
    save_file({k: v.contiguous() for k, v in tiny_model.state_dict().items()}, str(path),
              metadata={"drn_config": json.dumps(cfg)})
    with pytest.raises(CheckpointError, match="unpool 0 receives 99"):
        drn_edge.load_model(path)
    assert DRNConfig.from_dict(tiny_model.cfg.to_dict()) == tiny_model.cfg


def test_shipped_model_clearly_beats_the_rainy_input_on_held_out_photos():
    import numpy as np

    from drn_edge.evaluation.fidelity import torch_derain
    from drn_edge.evaluation.metrics import psnr
    from drn_edge.photos import HELDOUT_PHOTOS, load_photo
    from drn_edge.rain.preset import synthesize

    derain = torch_derain(drn_edge.load_model())
    for level, min_gain in (("low", 0.5), ("medium", 4.0), ("high", 2.0)):
        gains = []
        for i, name in enumerate(HELDOUT_PHOTOS):
            clean = np.ascontiguousarray(load_photo(name)[:192, :256])
            rainy = synthesize(clean, level, seed=99 + i, scale=1.0)
            gains.append(psnr(derain(rainy), clean) - psnr(rainy, clean))
        assert np.mean(gains) > min_gain, (level, gains)
