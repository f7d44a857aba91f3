"""The training loss: L1 (or squared error, SSIM mixed with L1, or the band-split error) between I - DRN(I) and the
clean frame, with per-example and per-pixel weights that give faint rain the signal plain L1 does not."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from drn_edge.evaluation.metrics import SSIM_K1, SSIM_K2, SSIM_SIGMA, SSIM_WINDOW

__all__ = ["BAND_SIGMA", "FAINT_RAIN_LEVEL", "RAIN_PIXEL_LEVEL", "SSIM_L1_SHARE", "pixel_weights", "sample_weights", "ssim_map",
           "weighted_loss"]

# --loss ssim-l1: the share of L1 beside 1 - SSIM (Zhao et al. 2017, "Loss functions for image restoration with neural
# networks": SSIM judges an error against the local contrast, so a faint streak left over a flat sky costs as much as
# a bright one over texture; L1 keeps the brightness, which SSIM barely sees).
SSIM_L1_SHARE = 0.16

# --loss band: the error split at this Gaussian sigma (px of the training crop). Below it (streaks, drizzle, edges) the
# squared error, whose optimum under doubt is the mean: a faint line the model is unsure of loses part of its light.
# Above it (the frame's brightness) L1, whose optimum is the median: doubt about faint rain everywhere must not become
# a shift of the whole frame, which is what the plain squared error taught (docs/levers.md).
BAND_SIGMA = 3.0

FAINT_RAIN_LEVEL = 0.03  # mean |rainy - clean| (about 8 grey levels) below which an example counts as faint rain


def sample_weights(rainy: np.ndarray, clean: np.ndarray, boost: float) -> np.ndarray | None:
    """Per-example loss weights: faint rain carries little L1 signal, so a model learns it last; its examples
    weigh up to `boost` times more (as much as they are fainter than FAINT_RAIN_LEVEL). Rain-free examples weigh 1."""
    if boost <= 1:
        return None
    amount = np.abs(rainy - clean).mean(axis=(1, 2, 3))
    w = np.where(amount > 1e-4, FAINT_RAIN_LEVEL / np.maximum(amount, 1e-6), 1.0)
    return np.clip(w, 1.0, boost).astype(np.float32)


# A pixel counts the full --rain-weight from this much |rainy - clean| (about 5 grey levels), proportionally below.
RAIN_PIXEL_LEVEL = 0.02


def pixel_weights(rainy: torch.Tensor, clean: torch.Tensor, rain_weight: float,
                  out: torch.Tensor | None = None, darken_weight: float = 1.0) -> torch.Tensor | None:
    """Nx1xHxW loss weights: 1 on the scene, up to `rain_weight` where rain was drawn. A faint streak covers few
    pixels, so leaving it costs the plain L1 little beside the scene around it; each example keeps its own weight
    (the loss is normalized per example). Where `out` is darker than the clean frame a pixel counts at least
    `darken_weight`: the rain weight alone taught the model to take more light than the rain added (the scene
    under it darkened), and this makes over-removal cost as much as leaving rain."""
    if rain_weight <= 1 and darken_weight <= 1:
        return None
    rain = (rainy.float() - clean).abs().mean(dim=1, keepdim=True)
    weights = 1 + (rain_weight - 1) * (rain / RAIN_PIXEL_LEVEL).clamp(max=1)
    if darken_weight > 1 and out is not None:
        darker = (out.detach().float() < clean).any(dim=1, keepdim=True)
        weights = torch.where(darker, weights.clamp(min=darken_weight), weights)
    return weights


def weighted_loss(out: torch.Tensor, clean: torch.Tensor, weights: torch.Tensor | None,
                   pixels: torch.Tensor | None = None, loss: str = "l1") -> torch.Tensor:
    """The training loss of a batch: per example the error (`loss`: l1, mse, ssim-l1 or band, weighted by `pixels`), then
    the examples weighted by `weights` (sample_weights)."""
    if loss == "band":
        error = band_error(out.float() - clean)
    else:
        error = (out.float() - clean).abs()
    if loss == "mse":
        error = error * error
    if pixels is None:
        per_example = error.mean(dim=(1, 2, 3))
    else:
        per_example = (error * pixels).sum(dim=(1, 2, 3)) / (pixels.sum(dim=(1, 2, 3)) * error.shape[1])
    if loss == "ssim-l1":
        dissimilarity = 1 - ssim_map(out.float(), clean.float()).mean(dim=(1, 2, 3))
        per_example = SSIM_L1_SHARE * per_example + (1 - SSIM_L1_SHARE) * dissimilarity
    if weights is None:
        return per_example.mean()
    return (per_example * weights).sum() / weights.sum()


def gaussian_taps(radius: int, sigma: float, device: torch.device) -> torch.Tensor:
    """The 2 * radius + 1 normalized taps of a 1-D Gaussian (the SSIM window and the band loss's blur)."""
    x = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    g = torch.exp(-x * x / (2 * sigma**2))
    return g / g.sum()


def gaussian_blur(t: torch.Tensor, sigma: float) -> torch.Tensor:
    """A separable Gaussian blur per channel, edges reflected (the image keeps its size)."""
    radius = int(3 * sigma + 0.5)
    g = gaussian_taps(radius, sigma, t.device).to(t.dtype)
    c = t.shape[1]
    t = F.conv2d(F.pad(t, (radius, radius, 0, 0), mode="reflect"), g.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)
    return F.conv2d(F.pad(t, (0, 0, radius, radius), mode="reflect"), g.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)


def band_error(error: torch.Tensor) -> torch.Tensor:
    """Per-pixel error of --loss band: |low| + high^2 / (2 RAIN_PIXEL_LEVEL), the signed error split at BAND_SIGMA.
    The squared part's slope equals L1's at RAIN_PIXEL_LEVEL (about 5 grey levels), so bright rain weighs as before."""
    low = gaussian_blur(error, BAND_SIGMA)
    high = error - low
    return low.abs() + high * high / (2 * RAIN_PIXEL_LEVEL)


def ssim_map(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """SSIM per pixel and channel of two NxCxHxW images in [0, 1] (the settings of drn_edge.evaluation.metrics.ssim:
    Gaussian window 11, sigma 1.5; only windows fully inside the image, so the map is 10 px smaller each way)."""
    g = gaussian_taps(SSIM_WINDOW // 2, SSIM_SIGMA, a.device)
    kernel = (g[:, None] * g[None, :]).expand(a.shape[1], 1, SSIM_WINDOW, SSIM_WINDOW).contiguous()

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t.contiguous(), kernel, groups=a.shape[1])

    ma, mb = blur(a), blur(b)
    va, vb, cov = blur(a * a) - ma * ma, blur(b * b) - mb * mb, blur(a * b) - ma * mb
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    return ((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
