import numpy as np
import pytest

from drn_edge.errors import ImageError
from drn_edge.evaluation.metrics import psnr
from drn_edge.photos import load_photo
from drn_edge.rain.preset import LEVELS, rain_layer, synthesize


def test_deterministic_given_seed_and_different_across_seeds():
    img = load_photo("coffee")
    a = synthesize(img, "medium", seed=7)
    assert np.array_equal(a, synthesize(img, "medium", seed=7))
    assert not np.array_equal(a, synthesize(img, "medium", seed=8))
    assert a.dtype == np.uint8 and a.shape == img.shape


def test_levels_hit_their_input_psnr_bands():
    photos = [load_photo(n) for n in ("rocket", "coffee", "astronaut")]
    mean = {lvl: np.mean([psnr(synthesize(p, lvl, seed=s), p) for p in photos for s in range(2)]) for lvl in LEVELS}
    assert 26 < mean["low"] < 34
    assert 17 < mean["medium"] < 23
    assert 11 < mean["high"] < 17
    assert mean["low"] > mean["medium"] > mean["high"]


def test_rain_returns_its_layer_and_only_brightens():
    img = load_photo("rocket")
    rainy, layer = synthesize(img, "high", seed=3, return_layer=True)
    assert layer.shape == img.shape[:2] and layer.dtype == np.float32
    assert 0 <= layer.min() and layer.max() <= 1
    assert (rainy.astype(int) >= img.astype(int) - 1).all()  # screen blend never darkens


def test_streaks_scale_with_image_size():
    # Same seed and level: the bigger frame gets proportionally longer streaks (more vertical autocorrelation).
    def vertical_corr(layer, lag):
        a, b = layer[:-lag] - layer.mean(), layer[lag:] - layer.mean()
        return float((a * b).mean() / layer.var())

    small = rain_layer(256, 256, "medium", seed=1)
    big = rain_layer(1024, 1024, "medium", seed=1)
    assert vertical_corr(big, 16) > vertical_corr(small, 16) + 0.1
    # An explicit scale (used for crops of a larger photo) overrides the frame size.
    big_small_scale = rain_layer(1024, 1024, "medium", seed=1, scale=0.5)
    assert vertical_corr(big, 16) > vertical_corr(big_small_scale, 16) + 0.1


@pytest.mark.parametrize("bad", [np.zeros((8, 8), np.uint8), np.zeros((8, 8, 3), np.float32), np.zeros((0, 8, 3), np.uint8)])
def test_bad_input_is_a_clear_error(bad):
    with pytest.raises(ImageError, match="HxWx3 uint8"):
        synthesize(bad)


def test_unknown_level_is_rejected():
    with pytest.raises(ValueError, match="one of"):
        synthesize(load_photo("coffee"), "torrential")


def test_levels_keep_their_band_at_any_frame_size():
    # Bigger frames get bigger but fewer streaks: a level means the same input PSNR at 320x240 and 1280x720.
    import cv2

    photo = load_photo("rocket")
    for level, (lo, hi) in {"low": (26, 34), "medium": (17, 23.5), "high": (11, 17.5)}.items():
        for size in ((320, 240), (1280, 720)):
            img = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
            assert lo < np.mean([psnr(synthesize(img, level, seed=s), img) for s in range(2)]) < hi, (level, size)


def test_every_level_table_is_keyed_by_the_one_list_of_level_names():
    from drn_edge.export.calibration import RAIN_BANDS
    from drn_edge.rain import LEVEL_NAMES
    from drn_edge.rain.family import LEVEL_INTENSITY
    from drn_edge.rain.preset import LEVELS

    for table in (LEVELS, LEVEL_INTENSITY, RAIN_BANDS):
        assert tuple(table) == LEVEL_NAMES
