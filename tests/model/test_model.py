import copy

import pytest
import torch
from torch import nn

from drn_edge.errors import ConfigError
from drn_edge.model.drn import DRN, MODEL_FACTORIES, BlockConfig, DRNConfig, FirstMaxPool, FirstMaxUnpool, count_macs, count_params
from tests.conftest import relu_sparse_ties


@pytest.mark.parametrize("shape", [(2, 5, 8, 8), (1, 16, 24, 40), (3, 4, 2, 2)])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_first_max_pool_unpool_equals_torch_maxpool_unpool(shape, seed):
    x = relu_sparse_ties(shape, seed)
    zero_windows = (nn.functional.max_pool2d(x, 2) == 0).float().mean()
    assert zero_windows > 0.05, "test input must contain all-zero (tied) windows"
    pooled, mask = FirstMaxPool()(x)
    ref_pooled, idx = nn.MaxPool2d(2, return_indices=True)(x)
    assert torch.equal(pooled, ref_pooled)
    values = torch.randn_like(ref_pooled)
    ours = FirstMaxUnpool()(values, mask)
    ref = nn.MaxUnpool2d(2)(values, idx, output_size=x.shape)
    assert torch.equal(ours, ref)


def test_naive_equality_mask_is_not_equivalent():
    # Why the first-max rule matters: an "x == upsampled max" mask keeps every tied zero.
    x = relu_sparse_ties((1, 8, 16, 16))
    ref_pooled, idx = nn.MaxPool2d(2, return_indices=True)(x)
    naive = (x == nn.functional.interpolate(ref_pooled, scale_factor=2)).float() * nn.functional.interpolate(
        torch.ones_like(ref_pooled), scale_factor=2)
    ref_mask = nn.MaxUnpool2d(2)(torch.ones_like(ref_pooled), idx, output_size=x.shape)
    assert not torch.equal(naive, ref_mask)
    _, mask = FirstMaxPool()(x)
    assert torch.equal(FirstMaxUnpool()(torch.ones_like(ref_pooled), mask), ref_mask)


@pytest.mark.parametrize("name", sorted(MODEL_FACTORIES))
def test_every_variant_builds_and_runs(name):
    model = MODEL_FACTORIES[name]().eval()
    x = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        y = model(x)
        r = model.rain_layer(x)
    assert y.shape == x.shape and torch.isfinite(y).all()
    assert torch.allclose(y, x - r)
    rebuilt = DRN(DRNConfig.from_dict(model.cfg.to_dict()))
    assert rebuilt.cfg == model.cfg


def test_config_rejects_unpool_width_that_differs_from_pool():
    g = (4,)
    with pytest.raises(ConfigError, match="unpool 0 receives 12 channels but its encoder pool has 16"):
        DRNConfig(encoder=(BlockConfig(g, 8), BlockConfig(g, 8), BlockConfig(g, 16)), bottleneck=BlockConfig(g, 12),
                  decoder=(BlockConfig(g, 8), BlockConfig(g, 8), BlockConfig(g, 8)))


def test_config_from_malformed_dict_is_a_config_error():
    with pytest.raises(ConfigError, match="malformed"):
        DRNConfig.from_dict({"encoder": [{"growth": [4]}]})


def test_macs_count_matches_hand_count_for_one_conv():
    model = MODEL_FACTORIES["drn_tiny"]()
    first = model.encoder[0].convs[0][0]
    # first conv: 3 -> 4 channels, 3x3, on 16x16 output
    macs_first = 16 * 16 * 4 * 3 * 9
    assert count_macs(model, 16, 16) > macs_first
    assert first.in_channels == 3 and first.out_channels == 4
    assert count_params(model) == sum(p.numel() for p in model.parameters())
    # MACs scale with the number of pixels (fully convolutional)
    assert count_macs(model, 32, 32) == 4 * count_macs(model, 16, 16)
    # counted where the model is: gpu_check.py counts a CUDA model and an FP16 one (a CPU input failed on the GPU)
    assert count_macs(copy.deepcopy(model).to(torch.bfloat16), 32, 32) == count_macs(model, 32, 32)
