"""Structured channel pruning of the DRN with each encoder pool coupled to its decoder unpool.

Why not torch-pruning's MetaPruner: in torch-pruning 1.6.1 it mis-maps channel indices through
dense concats (upstream issues #146 and #481; reproduced here on a single dense block: the pruned
model fails with a channel mismatch), and it cannot see that the tensor entering a decoder unpool
must keep the same channels as the encoder pool whose positions it uses. The DRN's graph is fixed
and small, so the groups are written out here explicitly:

- each growth conv's output channels are one group (its consumers: later convs of the block and
  the transition, at a known concat offset);
- each encoder transition is coupled with the transition feeding the matching decoder unpool
  (enc2 <-> bottleneck, enc1 <-> dec0, enc0 <-> dec1): they keep the same channel indices;
- the last decoder transition is its own group; the head keeps its 3 outputs (R for I - R).

Importance is the L2 norm of each output filter (summed over a coupled group). Kept counts are
rounded to multiples of `round_to` so TensorRT kernels stay efficient.
"""
from __future__ import annotations

import copy
import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from drn_edge.errors import ConfigError
from drn_edge.model.drn import DRN, BlockConfig, DenseBlock, DRNConfig, count_macs, count_params


@dataclass
class PruneReport:
    ratio: float
    params_before: int
    params_after: int
    macs_720p_before: int
    macs_720p_after: int

    def as_dict(self) -> dict:
        return asdict(self)


def _keep_count(n: int, ratio: float, round_to: int) -> int:
    """Channels kept of n: at least (1 - ratio) * n, rounded *up* to a multiple of round_to or to n itself
    (never more removed than asked); a layer narrower than round_to keeps its share, at least one channel."""
    want = (1.0 - ratio) * n
    if n < round_to or round_to <= 1:
        return int(min(n, max(1, math.ceil(want - 1e-9))))
    return int(min(n, max(round_to, round_to * math.ceil(want / round_to - 1e-9))))


def _filter_norms(conv: nn.Conv2d) -> torch.Tensor:
    return conv.weight.detach().flatten(1).norm(dim=1)


def _top(scores: torch.Tensor, k: int) -> torch.Tensor:
    return torch.sort(torch.topk(scores, k).indices).values


def _blocks(model: DRN) -> list[tuple[str, DenseBlock]]:
    named = [(f"encoder.{i}", b) for i, b in enumerate(model.encoder)] + [("bottleneck", model.bottleneck)]
    return named + [(f"decoder.{i}", b) for i, b in enumerate(model.decoder)]


def kept_channels(model: DRN, ratio: float, round_to: int = 8) -> dict[str, torch.Tensor]:
    """Indices of the output channels each conv keeps, keyed 'block.convs.i' / 'block.transition'."""
    keep: dict[str, torch.Tensor] = {}
    for name, block in _blocks(model):
        for i, c in enumerate(block.convs):
            conv = c[0]
            keep[f"{name}.convs.{i}"] = _top(_filter_norms(conv), _keep_count(conv.out_channels, ratio, round_to))
    coupled = [("encoder.0", "decoder.1"), ("encoder.1", "decoder.0"), ("encoder.2", "bottleneck"), ("decoder.2",)]
    blocks = dict(_blocks(model))
    for group in coupled:
        convs = [blocks[n].transition[0] for n in group]
        n = convs[0].out_channels
        assert all(c.out_channels == n for c in convs), "config validation guarantees coupled widths match"
        idx = _top(sum(_filter_norms(c) for c in convs), _keep_count(n, ratio, round_to))
        for name in group:
            keep[f"{name}.transition"] = idx
    return keep


def prune(model: DRN, ratio: float, round_to: int = 8) -> tuple[DRN, PruneReport]:
    """A new, smaller DRN rebuilt from its own config (every width explicit) and a report. `model` is untouched."""
    if not 0.0 < ratio < 1.0:
        raise ConfigError(f"prune ratio must be between 0 and 1 (fraction of channels removed), got {ratio}")
    keep = kept_channels(model, ratio, round_to)
    blocks = _blocks(model)

    def block_cfg(name: str, block: DenseBlock) -> BlockConfig:
        return BlockConfig(tuple(len(keep[f"{name}.convs.{i}"]) for i in range(len(block.convs))),
                           len(keep[f"{name}.transition"]), tuple(c[0].dilation[0] for c in block.convs))

    cfgs = {name: block_cfg(name, b) for name, b in blocks}
    cfg = DRNConfig(encoder=tuple(cfgs[f"encoder.{i}"] for i in range(3)), bottleneck=cfgs["bottleneck"],
                    decoder=tuple(cfgs[f"decoder.{i}"] for i in range(3)), in_channels=model.cfg.in_channels,
                    kernel_size=model.cfg.kernel_size, name=f"{model.cfg.name}-p{int(round(ratio * 100))}")
    pruned = DRN(cfg)

    # Input channels of each block come from the previous transition (or the image).
    block_input = {"encoder.0": torch.arange(model.cfg.in_channels)}
    order = [n for n, _ in blocks]
    for prev, nxt in zip(order, order[1:]):
        block_input[nxt] = keep[f"{prev}.transition"]

    def copy_conv(dst: nn.Conv2d, src: nn.Conv2d, out_idx: torch.Tensor, in_idx: torch.Tensor) -> None:
        dst.weight.data.copy_(src.weight.data[out_idx][:, in_idx])
        dst.bias.data.copy_(src.bias.data[out_idx])

    old_blocks, new_blocks = dict(blocks), dict(_blocks(pruned))
    for name in order:
        src, dst = old_blocks[name], new_blocks[name]
        in_idx, offset = [block_input[name]], src.convs[0][0].in_channels
        for i, (s, d) in enumerate(zip(src.convs, dst.convs)):
            copy_conv(d[0], s[0], keep[f"{name}.convs.{i}"], torch.cat(in_idx))
            in_idx.append(offset + keep[f"{name}.convs.{i}"])
            offset += s[0].out_channels
        copy_conv(dst.transition[0], src.transition[0], keep[f"{name}.transition"], torch.cat(in_idx))
    copy_conv(pruned.head, model.head, torch.arange(model.head.out_channels), keep["decoder.2.transition"])
    pruned.eval()
    report = PruneReport(ratio, count_params(model), count_params(pruned), count_macs(model, 720, 1280),
                         count_macs(pruned, 720, 1280))
    return pruned, report


def zero_pruned_channels(model: DRN, keep: dict[str, torch.Tensor]) -> DRN:
    """A copy of `model` with every pruned filter (weights and bias) set to zero: numerically the pruned model."""
    z = copy.deepcopy(model)
    for name, block in _blocks(z):
        convs = {f"{name}.convs.{i}": c[0] for i, c in enumerate(block.convs)} | {f"{name}.transition": block.transition[0]}
        for key, conv in convs.items():
            mask = torch.ones(conv.out_channels, dtype=torch.bool)
            mask[keep[key]] = False
            conv.weight.data[mask] = 0
            conv.bias.data[mask] = 0
    return z
