"""drn-eval --real: the mean change on real rainy frames and the share of it that is removal."""
import numpy as np
import pytest

from drn_edge.evaluation.real_rain import format_real_rain, real_rain_change
from drn_edge.imageio import write_image


@pytest.fixture
def rainy_folder(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        write_image(tmp_path / f"f{i}.png", rng.integers(20, 230, (24, 32, 3), dtype=np.uint8))
    return tmp_path


def test_identity_changes_nothing(rainy_folder):
    row = real_rain_change(lambda x: x, rainy_folder)
    assert row["n"] == 3 and row["mean_change"] == 0.0 and row["removal_share"] == 0.0


def test_darkening_is_removal_and_brightening_is_not(rainy_folder):
    darker = real_rain_change(lambda x: (x.astype(np.int16) - 4).clip(0, 255).astype(np.uint8), rainy_folder)
    assert darker["mean_change"] == pytest.approx(4.0) and darker["removal_share"] == 1.0
    brighter = real_rain_change(lambda x: (x.astype(np.int16) + 2).clip(0, 255).astype(np.uint8), rainy_folder)
    assert brighter["mean_change"] == pytest.approx(2.0) and brighter["removal_share"] == 0.0
    half = real_rain_change(lambda x: np.where(np.arange(32)[None, :, None] < 16, x - 3, x + 3).astype(np.uint8),
                            rainy_folder)
    assert half["removal_share"] == pytest.approx(0.5)
    assert "3 frames, mean change 4.00 grey levels" in format_real_rain("d", darker)


def test_streak_selectivity_tells_streak_removal_from_a_darkening(tmp_path):
    frame = np.full((40, 60, 3), 90, np.uint8)
    frame[:, 10::12] = 130  # bright one-pixel streaks
    write_image(tmp_path / "f.png", frame)
    uniform = real_rain_change(lambda x: (x.astype(np.int16) - 3).clip(0, 255).astype(np.uint8), tmp_path)
    assert uniform["streak_selectivity"] == pytest.approx(1.0)
    streaks_only = real_rain_change(lambda x: np.minimum(x, 92).astype(np.uint8), tmp_path)
    assert streaks_only["streak_selectivity"] == float("inf") and streaks_only["removal_share"] == 1.0
    assert np.isnan(real_rain_change(lambda x: x, tmp_path)["streak_selectivity"])
    assert "1.0x as much light" in format_real_rain("d", uniform)
    # a darkening of the whole frame is one shift; taking the streaks away is not
    assert uniform["uniform_shift"] == pytest.approx(3.0) and streaks_only["uniform_shift"] == 0.0
    assert "+3.00 grey levels of it is one shift of the whole frame" in format_real_rain("d", uniform)


def test_only_the_frames_kept_are_decoded(tmp_path):
    """--clean-frames / --detect-frames decoded a whole folder to keep a few (+870 MB to keep 2 of 300)."""
    from drn_edge.evaluation.eval_frames import clean_dir_sources

    for i in range(10):
        write_image(tmp_path / f"f{i:02d}.png", np.full((8, 8, 3), i, np.uint8))
    (tmp_path / "f03.png").write_bytes(b"damaged")  # not among the evenly spaced two: never decoded
    kept = clean_dir_sources(tmp_path, 2)
    assert [n for n, _ in kept] == ["f00", "f05"] and kept[1][1][0, 0, 0] == 5
