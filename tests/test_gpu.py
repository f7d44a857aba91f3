"""PyTorch on CUDA (the GPU baseline drn-bench reports). Skipped with the reason where no CUDA GPU is present."""
import pytest
import torch

pytestmark = [pytest.mark.gpu,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")]


def test_cuda_fp32_and_fp16_match_cpu(tiny_model):
    x = torch.rand(2, 3, 64, 96)
    with torch.no_grad():
        ref = tiny_model(x)
        import copy

        gpu = copy.deepcopy(tiny_model).cuda()(x.cuda()).cpu()
        # A copy: rounding the session-scoped fixture's weights to FP16 would change every later test.
        half = copy.deepcopy(tiny_model).cuda().half()(x.cuda().half()).float().cpu()
    assert (gpu - ref).abs().mean() < 1e-5
    assert (half - ref).abs().mean() < 5e-3


def test_cuda_graph_replay_matches_eager(tiny_model):
    model = tiny_model.cuda()
    static_in = torch.rand(1, 3, 64, 96, device="cuda")
    with torch.no_grad():
        for _ in range(3):
            model(static_in)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            static_out = model(static_in)
        new = torch.rand_like(static_in)
        static_in.copy_(new)
        graph.replay()
        assert torch.allclose(static_out, model(new), atol=1e-5)
    tiny_model.cpu()


def test_count_macs_counts_a_model_on_the_gpu(tiny_model):
    from drn_edge.model.drn import count_macs

    assert count_macs(tiny_model.cuda().half(), 64, 64) == count_macs(tiny_model.float().cpu(), 64, 64)
