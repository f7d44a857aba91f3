import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from drn_edge.errors import ImageError
from drn_edge.evaluation.metrics import psnr, ssim, uqi
from drn_edge.photos import load_photo
from drn_edge.rain.preset import synthesize


@pytest.fixture(scope="module")
def pair():
    clean = load_photo("coffee")[:200, :300]
    return synthesize(clean, "medium", seed=0), clean


def test_psnr_matches_skimage(pair):
    a, b = pair
    assert psnr(a, b) == pytest.approx(peak_signal_noise_ratio(b, a, data_range=255), abs=1e-9)
    assert psnr(b, b) == float("inf")


def test_ssim_matches_skimage_reference_settings(pair):
    a, b = pair
    ref = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
                                channel_axis=2, K1=0.01, K2=0.03)
    assert ssim(a, b) == pytest.approx(ref, abs=1e-6)
    assert ssim(b, b) == pytest.approx(1.0)


def test_ssim_matches_skimage_on_greyscale():
    g = load_photo("gravel")[:64, :80, 0]
    noisy = np.clip(g.astype(int) + np.random.default_rng(0).integers(-20, 20, g.shape), 0, 255).astype(np.uint8)
    ref = structural_similarity(g, noisy, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    assert ssim(g, noisy) == pytest.approx(ref, abs=1e-6)


def test_uqi_identical_images_is_one(pair):
    assert uqi(pair[1], pair[1]) == pytest.approx(1.0)


def _checker(a, b):
    x = np.full((8, 8), a, np.uint8)
    x[::2, ::2] = b
    x[1::2, 1::2] = b
    return x


def test_uqi_hand_computed_single_window():
    x = _checker(0, 2)  # mean 1, var 1
    # y = 2 - x: mean 1, var 1, cov -1 -> Q = 4*(-1)*1*1 / ((1+1)*(1+1)) = -1
    assert uqi(x, (2 - x).astype(np.uint8)) == pytest.approx(-1.0)
    # y = 2x: mean 2, var 4, cov 2 -> Q = 4*2*1*2 / ((1+4)*(1+4)) = 0.64
    assert uqi(x, (2 * x).astype(np.uint8)) == pytest.approx(0.64)
    # flat, different: luminance only: 2*100*50 / (100^2 + 50^2) = 0.8
    assert uqi(np.full((8, 8), 100, np.uint8), np.full((8, 8), 50, np.uint8)) == pytest.approx(0.8)
    assert uqi(np.zeros((8, 8), np.uint8), np.zeros((8, 8), np.uint8)) == pytest.approx(1.0)


def test_uqi_averages_sliding_windows():
    # 9x8 image has two vertical window positions; each scored by hand.
    x = np.zeros((9, 8), np.uint8)
    y = np.zeros((9, 8), np.uint8)
    x[:8] = _checker(0, 2)
    y[:8] = (2 * _checker(0, 2)).astype(np.uint8)
    x[8], y[8] = 2, 4
    top = 0.64
    # bottom window (rows 1..8): compute its stats directly
    xs, ys = x[1:].astype(float), y[1:].astype(float)
    mx, my = xs.mean(), ys.mean()
    q = 4 * ((xs - mx) * (ys - my)).mean() * mx * my / ((xs.var() + ys.var()) * (mx**2 + my**2))
    assert uqi(x, y) == pytest.approx((top + q) / 2)


def test_rain_lowers_every_metric(pair):
    rainy, clean = pair
    assert psnr(rainy, clean) < 30 and ssim(rainy, clean) < 0.95 and uqi(rainy, clean) < 0.95


@pytest.mark.parametrize("fn", [psnr, ssim, uqi])
def test_metric_input_errors(fn):
    a = np.zeros((16, 16, 3), np.uint8)
    with pytest.raises(ImageError, match="same shape"):
        fn(a, np.zeros((16, 15, 3), np.uint8))
    with pytest.raises(ImageError, match="uint8"):
        fn(a, a.astype(np.float32))
