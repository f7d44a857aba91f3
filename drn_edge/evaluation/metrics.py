"""Image quality metrics on uint8 images: PSNR, SSIM (Wang et al. 2004), UQI (Wang & Bovik 2002).

Own implementations (numpy + OpenCV filters) so the benchmark needs no scikit-image; tests check
them against scikit-image's reference settings.
"""
from __future__ import annotations

import cv2
import numpy as np

from drn_edge.errors import ImageError

__all__ = ["psnr", "capped_psnr", "PSNR_CAP_DB", "ssim", "uqi"]

SSIM_WINDOW, SSIM_SIGMA, SSIM_K1, SSIM_K2 = 11, 1.5, 0.01, 0.03  # Wang et al. 2004; also the training loss's SSIM
PSNR_CAP_DB = 100.0  # identical images: PSNR is infinite; every table caps it here (one rule everywhere)


def _pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ImageError(f"images must have the same shape to be compared, got {a.shape} and {b.shape}")
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        raise ImageError(f"metrics take uint8 images, got {a.dtype} and {b.dtype}")
    if a.ndim not in (2, 3) or a.size == 0:
        raise ImageError(f"metrics take HxW or HxWxC images, got shape {a.shape}")
    a, b = a.astype(np.float64), b.astype(np.float64)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    return a, b


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB over all channels (data range 255); inf for identical images."""
    a, b = _pair(a, b)
    mse = np.mean((a - b) ** 2)
    return float("inf") if mse == 0 else float(10 * np.log10(255.0**2 / mse))


def capped_psnr(a: np.ndarray, b: np.ndarray) -> float:
    """psnr() capped at PSNR_CAP_DB, so means over frames stay finite: what every table reports."""
    return min(psnr(a, b), PSNR_CAP_DB)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Mean SSIM: Gaussian window 11x11, sigma 1.5, K1 0.01, K2 0.03, population covariance, averaged over channels.

    Matches skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
    use_sample_covariance=False, data_range=255), which also ignores a 5 px border.
    """
    a, b = _pair(a, b)
    c1, c2 = (SSIM_K1 * 255) ** 2, (SSIM_K2 * 255) ** 2
    if min(a.shape[:2]) < SSIM_WINDOW:
        raise ImageError(f"SSIM needs images of at least {SSIM_WINDOW}x{SSIM_WINDOW} pixels, got {a.shape[:2]}")

    def blur(x: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(x, (SSIM_WINDOW, SSIM_WINDOW), SSIM_SIGMA, borderType=cv2.BORDER_REFLECT)

    scores = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch], b[..., ch]
        mx, my = blur(x), blur(y)
        vx = blur(x * x) - mx * mx
        vy = blur(y * y) - my * my
        cxy = blur(x * y) - mx * my
        s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
        border = SSIM_WINDOW // 2
        scores.append(s[border:-border, border:-border].mean())
    return float(np.mean(scores))


def _window_sums(x: np.ndarray, k: int) -> np.ndarray:
    """Sum over every fully-inside k x k window (valid positions only)."""
    c = np.pad(x, ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    return c[k:, k:] - c[:-k, k:] - c[k:, :-k] + c[:-k, :-k]


def uqi(a: np.ndarray, b: np.ndarray, window: int = 8) -> float:
    """Universal Quality Index, mean over all 8x8 sliding windows and channels.

    Q = 4 cov(x,y) mean(x) mean(y) / ((var x + var y)(mean x^2 + mean y^2)). Where the formula is
    0/0 the window is scored as Wang & Bovik's limits: both flat and equal -> 1; both flat ->
    luminance term 2 mx my / (mx^2 + my^2); all zero -> 1.
    """
    a, b = _pair(a, b)
    if min(a.shape[:2]) < window:
        raise ImageError(f"UQI needs images of at least {window}x{window} pixels, got {a.shape[:2]}")
    n = window * window
    scores = []
    for ch in range(a.shape[2]):
        x, y = a[..., ch], b[..., ch]
        sx, sy = _window_sums(x, window), _window_sums(y, window)
        sxx, syy, sxy = _window_sums(x * x, window), _window_sums(y * y, window), _window_sums(x * y, window)
        mx, my = sx / n, sy / n
        vx, vy = sxx / n - mx * mx, syy / n - my * my
        cov = sxy / n - mx * my
        # Round-off can leave tiny negative or non-zero variances in flat windows.
        tol = 1e-9 * (1 + mx * mx + my * my)
        vx, vy = np.where(vx < tol, 0.0, vx), np.where(vy < tol, 0.0, vy)
        cov = np.where((vx == 0) | (vy == 0), 0.0, cov)
        lum_den = mx * mx + my * my
        var_den = vx + vy
        q = np.ones_like(mx)
        full = (var_den > 0) & (lum_den > 0)
        q[full] = 4 * cov[full] * mx[full] * my[full] / (var_den[full] * lum_den[full])
        flat = (var_den == 0) & (lum_den > 0)
        q[flat] = 2 * mx[flat] * my[flat] / lum_den[flat]
        # var_den > 0 but both means 0 cannot happen for non-negative images; treat as structure-only.
        struct_only = (var_den > 0) & (lum_den == 0)
        q[struct_only] = 2 * cov[struct_only] / var_den[struct_only]
        scores.append(q.mean())
    return float(np.mean(scores))
