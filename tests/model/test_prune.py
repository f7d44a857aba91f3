import pytest
import torch

from drn_edge.errors import ConfigError
from drn_edge.export.torch_to_onnx import ExportSpec, export_onnx, unsupported_ops
from drn_edge.model.checkpoint import load_checkpoint, save_checkpoint
from drn_edge.model.drn import MODEL_FACTORIES
from drn_edge.model.prune import kept_channels, prune, zero_pruned_channels


def _perturbed(name):
    torch.manual_seed(1)
    m = MODEL_FACTORIES[name]().eval()
    for p in m.parameters():
        p.data += 0.05 * torch.randn_like(p)
    return m


@pytest.mark.parametrize("name,ratio", [("drn_small", 0.3), ("drn_base", 0.5), ("drn_tiny", 0.4)])
def test_pruned_model_equals_original_with_pruned_filters_zeroed(name, ratio):
    # Exact only if every consumer slice and every pool/unpool coupling kept the right channels.
    model = _perturbed(name)
    round_to = 4 if name == "drn_tiny" else 8
    pruned, report = prune(model, ratio, round_to=round_to)
    zeroed = zero_pruned_channels(model, kept_channels(model, ratio, round_to))
    x = torch.rand(2, 3, 32, 48)
    with torch.no_grad():
        assert torch.allclose(pruned(x), zeroed(x), atol=1e-5)
    assert report.params_after < report.params_before and report.macs_720p_after < report.macs_720p_before


def test_wrong_coupling_would_be_caught():
    # Sanity of the test above: pairing a decoder channel with the wrong encoder mask changes the output.
    model = _perturbed("drn_small")
    keep = kept_channels(model, 0.3, round_to=2)
    n = model.decoder[1].transition[0].out_channels
    kept = keep["decoder.1.transition"]
    others = torch.tensor([i for i in range(n) if i not in set(kept.tolist())])
    # Decoder keeps a different channel set than its encoder pool: the zeroed model must now differ.
    keep["decoder.1.transition"] = torch.sort(torch.cat([kept[:-1], others[:1]])).values
    zeroed = zero_pruned_channels(model, keep)
    pruned, _ = prune(model, 0.3, round_to=2)
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert not torch.allclose(pruned(x), zeroed(x), atol=1e-5)


def test_pruned_widths_are_rounded_and_reload_from_config(tmp_path):
    model = _perturbed("drn_base")
    pruned, _ = prune(model, 0.3, round_to=8)
    def widths(m):
        return [g for b in (*m.cfg.encoder, m.cfg.bottleneck, *m.cfg.decoder) for g in (*b.growth, b.out)]

    # a multiple of 8, or the layer's full width where rounding up reaches it (never more removed than asked)
    assert all(w % 8 == 0 or w == full for w, full in zip(widths(pruned), widths(model)))
    assert any(w < full for w, full in zip(widths(pruned), widths(model)))
    path = save_checkpoint(pruned, tmp_path / "p.safetensors")
    reloaded, _, _ = load_checkpoint(path)
    x = torch.rand(1, 3, 24, 32)
    with torch.no_grad():
        assert torch.equal(reloaded(x), pruned(x))
    onnx_path = export_onnx(reloaded, tmp_path / "p.onnx", ExportSpec())
    import onnx

    assert not unsupported_ops(onnx.load(str(onnx_path)))


def test_bad_ratio():
    with pytest.raises(ConfigError, match="between 0 and 1"):
        prune(MODEL_FACTORIES["drn_tiny"](), 1.2)


def test_small_ratios_remove_no_more_than_asked():
    from drn_edge.model.drn import drn_base

    model = drn_base()
    for ratio, round_to in ((0.01, 8), (0.01, 2), (0.1, 8), (0.3, 4)):
        _, report = prune(model, ratio, round_to=round_to)
        removed = 1 - report.params_after / report.params_before
        assert removed <= 1 - (1 - ratio) ** 2 + 1e-9, (ratio, round_to, removed)  # params scale ~ kept in x kept out
    _, report = prune(model, 0.01, round_to=8)
    assert report.params_after == report.params_before  # 1 % of a 12-channel layer rounds up to keeping it whole
