"""The deraining network (DRN): a densely-connected conv encoder-decoder that predicts the rain layer.

Layout follows timm: building blocks, then the model, then a private builder and named factories.

Pooling is SegNet style: the decoder unpools at the encoder's max positions. Neither
``nn.MaxUnpool2d`` nor pooling indices survive the trip to TensorRT, so pool and unpool are
written as an exact first-max mask (space-to-depth, ReduceMax, Equal, keep the first max in
row-major order, depth-to-space). This is bit-identical to PyTorch's MaxPool2d/MaxUnpool2d pair
(including its tie rule) and exports to ops TensorRT's ONNX parser accepts.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from drn_edge.errors import ConfigError

__all__ = [
    "BlockConfig",
    "DRNConfig",
    "DenseBlock",
    "FirstMaxPool",
    "FirstMaxUnpool",
    "DRN",
    "drn_base",
    "drn_small",
    "drn_tiny",
    "MODEL_FACTORIES",
    "count_macs",
    "count_params",
]

from drn_edge.onnx_spec import MULTIPLE  # noqa: E402  (one fact: three 2x2 pools need multiples of 8)

# Bounds on configs read from files: a checkpoint header must not be able to ask for gigabytes.
MAX_WIDTH = 1024
MAX_CONVS_PER_BLOCK = 16
MAX_PARAMS = 50_000_000
# Widest concat a block keeps alive, in channels per input pixel weighted by its resolution: the DRN's
# activation memory per pixel. drn_base is 60; a config inside every other bound could ask for ~16,000
# (gigabytes per 720p frame). 400 leaves room for much wider models (~1.5 GB per 720p frame in float32).
MAX_ACTIVATION_CHANNELS = 400


# --------------------------------------------------------------------------- config
@dataclass(frozen=True)
class BlockConfig:
    """One dense block: the width of each growth conv, then the width of its 1x1 transition.

    `dilation` (one per growth conv, default 1) widens the receptive field where it is cheap: in
    the bottleneck, at 1/8 resolution, dilations 2/4/8 let the network see a whole near streak of a
    720p frame (~100 px) at almost no cost. Dilated convs are plain ONNX Conv, TensorRT-parsable.
    """

    growth: tuple[int, ...]
    out: int
    dilation: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "growth", tuple(int(g) for g in self.growth))
        if not self.growth or any(g < 1 for g in self.growth) or int(self.out) < 1:
            raise ConfigError(f"block widths must be positive integers, got growth={self.growth} out={self.out}")
        object.__setattr__(self, "out", int(self.out))
        dil = tuple(int(d) for d in self.dilation) or (1,) * len(self.growth)
        if len(dil) != len(self.growth) or any(d < 1 or d > 64 for d in dil):
            raise ConfigError(f"dilation needs one value in 1..64 per growth conv, got {self.dilation} for growth {self.growth}")
        object.__setattr__(self, "dilation", dil)


@dataclass(frozen=True)
class DRNConfig:
    """Every layer width, explicitly, so a pruned model rebuilds from its config alone.

    encoder[i] is followed by a 2x2 pool; decoder[i] follows the unpool of encoder[-1 - i].
    The tensor entering that unpool must have encoder[-1 - i].out channels (pool and unpool
    share the same per-channel positions).
    """

    encoder: tuple[BlockConfig, ...]
    bottleneck: BlockConfig
    decoder: tuple[BlockConfig, ...]
    in_channels: int = 3
    kernel_size: int = 3
    name: str = "drn"
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        enc = tuple(b if isinstance(b, BlockConfig) else BlockConfig(**b) for b in self.encoder)
        dec = tuple(b if isinstance(b, BlockConfig) else BlockConfig(**b) for b in self.decoder)
        bott = self.bottleneck if isinstance(self.bottleneck, BlockConfig) else BlockConfig(**self.bottleneck)
        object.__setattr__(self, "encoder", enc)
        object.__setattr__(self, "decoder", dec)
        object.__setattr__(self, "bottleneck", bott)
        if len(enc) != 3 or len(dec) != 3:
            raise ConfigError(f"DRN has 3 encoder and 3 decoder blocks, got {len(enc)} and {len(dec)}")
        if self.in_channels != 3:
            raise ConfigError(f"in_channels must be 3 (colour frames), got {self.in_channels}")
        if self.kernel_size not in (1, 3, 5, 7):
            raise ConfigError(f"kernel_size must be 1, 3, 5 or 7, got {self.kernel_size}")
        for b in (*enc, bott, *dec):
            if len(b.growth) > MAX_CONVS_PER_BLOCK or max(*b.growth, b.out) > MAX_WIDTH:
                raise ConfigError(f"block {b} is out of bounds: at most {MAX_CONVS_PER_BLOCK} convs per block and "
                                  f"{MAX_WIDTH} channels per layer")
        if self.param_estimate() > MAX_PARAMS:
            raise ConfigError(f"config asks for ~{self.param_estimate():,} parameters, more than the {MAX_PARAMS:,} "
                              "a DRN may have; the file is damaged or not a drn-edge model")
        if self.activation_estimate() > MAX_ACTIVATION_CHANNELS:
            raise ConfigError(f"config needs ~{self.activation_estimate():.0f} float channels of activations per input "
                              f"pixel, more than the {MAX_ACTIVATION_CHANNELS} a DRN may (~"
                              f"{self.activation_estimate() * 4 * 720 * 1280 / 1e9:.1f} GB per 720p frame); the file is "
                              "damaged or not a drn-edge model")
        # The tensor entering unpool i carries the channels of the matching pool.
        entering = [bott.out] + [d.out for d in dec[:-1]]
        for i, width in enumerate(entering):
            pooled = enc[len(enc) - 1 - i].out
            if width != pooled:
                raise ConfigError(
                    f"unpool {i} receives {width} channels but its encoder pool has {pooled}; "
                    "pool and unpool must keep the same channels (prune them coupled)"
                )

    def activation_estimate(self) -> float:
        """The largest dense concat of any block, in channels per input pixel (1/4 per pool level below full size)."""
        worst, ch = 0.0, self.in_channels
        levels = [0, 1, 2]
        blocks = [(b, lv) for b, lv in zip(self.encoder, levels)] + [(self.bottleneck, 3)] + \
                 [(b, lv) for b, lv in zip(self.decoder, reversed(levels))]
        for b, level in blocks:
            width = ch + sum(b.growth)
            worst = max(worst, width / 4 ** level)
            ch = b.out
        return worst

    def param_estimate(self) -> int:
        """Parameter count from the config alone (checked before anything is allocated)."""
        k2, total, ch = self.kernel_size ** 2, 0, self.in_channels
        for b in (*self.encoder, self.bottleneck, *self.decoder):
            for g in b.growth:
                total += ch * g * k2 + g
                ch += g
            total += ch * b.out + b.out
            ch = b.out
        return total + ch * self.in_channels * k2 + self.in_channels

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("extra")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> DRNConfig:
        try:
            def block(b: dict) -> BlockConfig:
                return BlockConfig(tuple(b["growth"]), b["out"], tuple(b.get("dilation", ())))

            return cls(
                encoder=tuple(block(b) for b in d["encoder"]),
                bottleneck=block(d["bottleneck"]),
                decoder=tuple(block(b) for b in d["decoder"]),
                in_channels=int(d.get("in_channels", 3)),
                kernel_size=int(d.get("kernel_size", 3)),
                name=str(d.get("name", "drn")),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ConfigError(f"model config is malformed ({type(exc).__name__}: {exc})") from None


# --------------------------------------------------------------------------- blocks
class DenseBlock(nn.Module):
    """Each conv sees the concat of the block input and all earlier conv outputs; a 1x1 conv fuses them."""

    def __init__(self, in_channels: int, cfg: BlockConfig, kernel_size: int = 3,
                 act_layer: Callable[[], nn.Module] = nn.ReLU):
        super().__init__()
        self.convs = nn.ModuleList()
        ch = in_channels
        for g, d in zip(cfg.growth, cfg.dilation):
            self.convs.append(nn.Sequential(nn.Conv2d(ch, g, kernel_size, padding=d * (kernel_size // 2), dilation=d),
                                            act_layer()))
            ch += g
        self.transition = nn.Sequential(nn.Conv2d(ch, cfg.out, 1), act_layer())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Incremental concat (DenseNet style): same channel order as concat(all), and torch-pruning maps
        # channel indices through a chain of two-input concats correctly.
        for conv in self.convs:
            x = torch.cat([x, conv(x)], 1)
        return self.transition(x)


def _space_to_depth(x: torch.Tensor) -> torch.Tensor:
    """(N,C,H,W) -> (N,C,H/2,W/2,4), the last axis in row-major window order."""
    n, c, h, w = x.shape
    x = x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 2, 4, 3, 5)
    return x.reshape(n, c, h // 2, w // 2, 4)


def _depth_to_space(x: torch.Tensor) -> torch.Tensor:
    """Inverse of _space_to_depth."""
    n, c, h2, w2, _ = x.shape
    x = x.reshape(n, c, h2, w2, 2, 2).permute(0, 1, 2, 4, 3, 5)
    return x.reshape(n, c, h2 * 2, w2 * 2)


class FirstMaxPool(nn.Module):
    """2x2/2 max pool that also returns a one-hot mask of the FIRST max per window (PyTorch's tie rule).

    The mask replaces pooling indices; after ReLU whole windows are often 0, so "equal to the max"
    alone would mark several positions and differ from MaxUnpool2d.
    """

    def __init__(self) -> None:
        super().__init__()
        # before[i, j] = 1 where window position i comes before j: eq @ before counts earlier maxima.
        self.register_buffer("before", torch.triu(torch.ones(4, 4), diagonal=1), persistent=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        windows = _space_to_depth(x)
        pooled = windows.amax(dim=-1, keepdim=True)
        is_max = (windows == pooled).to(x.dtype)
        earlier_maxima = torch.matmul(is_max, self.before.to(x.dtype))
        first_max = is_max * (earlier_maxima == 0).to(x.dtype)
        return pooled.squeeze(-1), first_max


class FirstMaxUnpool(nn.Module):
    """Place each value at its window's first-max position, zeros elsewhere (== MaxUnpool2d)."""

    def forward(self, x: torch.Tensor, first_max: torch.Tensor) -> torch.Tensor:
        return _depth_to_space(x.unsqueeze(-1) * first_max)


# --------------------------------------------------------------------------- model
class DRN(nn.Module):
    """Predicts the rain layer R of a frame I in [0, 1] and returns I - R.

    Input height and width must be multiples of 8 (three 2x2 pools); the runtime pads frames.
    """

    def __init__(self, cfg: DRNConfig):
        super().__init__()
        self.cfg = cfg
        k = cfg.kernel_size
        self.pool = FirstMaxPool()
        self.unpool = FirstMaxUnpool()
        self.encoder = nn.ModuleList()
        ch = cfg.in_channels
        for block in cfg.encoder:
            self.encoder.append(DenseBlock(ch, block, k))
            ch = block.out
        self.bottleneck = DenseBlock(ch, cfg.bottleneck, k)
        ch = cfg.bottleneck.out
        self.decoder = nn.ModuleList()
        for block in cfg.decoder:
            self.decoder.append(DenseBlock(ch, block, k))
            ch = block.out
        self.head = nn.Conv2d(ch, cfg.in_channels, k, padding=k // 2)

    def rain_layer(self, x: torch.Tensor) -> torch.Tensor:
        masks = []
        y = x
        for block in self.encoder:
            y, mask = self.pool(block(y))
            masks.append(mask)
        y = self.bottleneck(y)
        for block, mask in zip(self.decoder, reversed(masks)):
            y = block(self.unpool(y, mask))
        return self.head(y)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.rain_layer(x)


def count_macs(model: DRN, height: int, width: int) -> int:
    """Multiply-accumulates of the convolutions for one frame (the cost that matters on a GPU).

    Every conv is 'same'-padded and each pool halves exactly, so MACs are proportional to the pixel
    count: count once on an 8x8 frame and scale (exact for multiples of 8).
    """
    if height % MULTIPLE or width % MULTIPLE:
        raise ConfigError(f"height and width must be multiples of {MULTIPLE}, got {height}x{width}")
    macs = 0

    def hook(mod: nn.Conv2d, _inp, out):
        nonlocal macs
        kh, kw = mod.kernel_size
        macs += out.numel() // out.shape[0] * (mod.in_channels // mod.groups) * kh * kw

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv2d)]
    try:
        with torch.no_grad():
            weight = next(model.parameters())  # a model moved to a GPU or cast to half is counted where it is
            model(torch.zeros(1, model.cfg.in_channels, MULTIPLE, MULTIPLE, device=weight.device, dtype=weight.dtype))
    finally:
        for h in handles:
            h.remove()
    return macs * (height * width) // (MULTIPLE * MULTIPLE)


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# --------------------------------------------------------------------------- factories
BOTTLENECK_DILATION = (2, 4, 8)  # receptive field of ~330 px at 720p for 3x3 convs: a whole near streak


def _build(name: str, widths: Sequence[int], growth: int, convs: int) -> DRN:
    g = (growth,) * convs
    w0, w1, w2 = widths
    dil = (BOTTLENECK_DILATION + (8,) * convs)[:convs]
    cfg = DRNConfig(
        encoder=(BlockConfig(g, w0), BlockConfig(g, w1), BlockConfig(g, w2)),
        bottleneck=BlockConfig(g, w2, dil),
        decoder=(BlockConfig(g, w1), BlockConfig(g, w0), BlockConfig(g, w0)),
        name=name,
    )
    return DRN(cfg)


def drn_base() -> DRN:
    """The shipped model: widths 24/48/96, growth 12, three convs per dense block, dilated bottleneck (31 GMAC at 720p)."""
    return _build("drn_base", (24, 48, 96), 12, 3)


def drn_small() -> DRN:
    return _build("drn_small", (16, 32, 64), 8, 3)


def drn_tiny() -> DRN:
    """For tests: builds and runs in milliseconds."""
    return _build("drn_tiny", (8, 8, 16), 4, 2)


MODEL_FACTORIES: dict[str, Callable[[], DRN]] = {"drn_base": drn_base, "drn_small": drn_small, "drn_tiny": drn_tiny}


def set_torch_threads(threads: int | None) -> None:
    """torch's CPU threads for this process: the one place a --threads value reaches torch (None: torch's choice)."""
    if threads:
        torch.set_num_threads(threads)
