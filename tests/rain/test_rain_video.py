"""Rain that moves: deterministic, coherent in time, at the single-frame levels; the warping error sees flicker."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from drn_edge.errors import ImageError
from drn_edge.evaluation.metrics import psnr
from drn_edge.evaluation.temporal import clip_motion, warping_errors
from drn_edge.rain.family import RainSpec, StreakLayer
from drn_edge.rain.video import RainClip, rain_clip
from tests.conftest import SHARED

CLIP = SHARED / "data/road/permissive/lanelines_p1/solidWhiteRight.mp4"


def _scene(h=96, w=128, seed=0):
    rng = np.random.default_rng(seed)
    base = cv2.GaussianBlur(rng.integers(0, 255, (h, w, 3), dtype=np.uint8), (0, 0), 2)
    return np.ascontiguousarray(base)


def test_same_seed_same_clip_other_seed_other_rain():
    frames = [_scene(seed=i) for i in range(4)]
    a = list(rain_clip(frames, "medium", seed=3))
    b = list(rain_clip(frames, "medium", seed=3))
    c = list(rain_clip(frames, "medium", seed=4))
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[2], c[2])
    assert not np.array_equal(a[0], a[1])  # the rain moved


def test_streaks_fall_with_their_layer_speed_and_keep_coming():
    lay = StreakLayer(depth=0.5, width=2.0, length=0.1, angle=20.0, coverage=0.06, brightness=0.8, blur=0.0)
    clip = RainClip(240, 320, spec=RainSpec((lay,)), seed=1)
    layers = [clip.layer() for _ in range(40)]
    step = clip._layers[0].step
    assert step[1] > 0 and step[0] > 0  # falls down, drifts with the 20 degree wind
    (dx, dy), response = cv2.phaseCorrelate(layers[10].astype(np.float64), layers[11].astype(np.float64))
    assert response > 0.1 and abs(dx - step[0]) < 1.5 and abs(dy - step[1]) < 1.5, (dx, dy, step)
    covered = [float((lay_ > 0.1).mean()) for lay_ in layers]
    assert min(covered[20:]) > 0.5 * max(covered[:5]), covered  # streaks re-enter: the frame never runs dry


@pytest.mark.parametrize("generator", ["streaks", "heavy", "particles"])
def test_levels_match_single_frame_rain(generator):
    from drn_edge.rain.preset import synthesize

    img = _scene(180, 320, seed=5)
    for level in ("low", "high"):
        moving = np.mean([psnr(RainClip(180, 320, level, generator, seed=s)(img), img) for s in range(6)])
        still = np.mean([psnr(synthesize(img, level, seed=s, generator=generator), img) for s in range(6)])
        assert abs(moving - still) < 3.5, (generator, level, moving, still)
    low = np.mean([psnr(RainClip(180, 320, "low", generator, seed=s)(img), img) for s in range(4)])
    high = np.mean([psnr(RainClip(180, 320, "high", generator, seed=s)(img), img) for s in range(4)])
    assert low > high + 5


def test_bad_frames_and_settings_are_refused():
    clip = RainClip(64, 96, "low")
    with pytest.raises(ImageError, match="64x96x3 uint8"):
        clip(np.zeros((64, 96, 3), np.float32))
    with pytest.raises(ValueError, match="rain level"):
        RainClip(64, 96, "storm")
    with pytest.raises(ValueError, match="rain generator"):
        RainClip(64, 96, "low", "snow")


def test_warping_error_sees_flicker_not_motion():
    base = _scene(120, 160, seed=2)
    big = cv2.resize(base, (200, 150))
    clean = [np.ascontiguousarray(big[10:130, 10 + 2 * t:170 + 2 * t]) for t in range(6)]  # camera pans 2 px/frame
    motion = clip_motion(clean)
    naive = np.mean([np.abs(a.astype(float) - b).mean() for a, b in zip(clean[1:], clean[:-1])])
    floor = np.mean(warping_errors(clean, motion))
    assert floor < 0.5 * naive, (floor, naive)  # motion is compensated
    rng = np.random.default_rng(0)
    flicker = [np.clip(f.astype(int) + rng.integers(-20, 21, f.shape), 0, 255).astype(np.uint8) for f in clean]
    assert np.mean(warping_errors(flicker, motion)) > floor + 5
    with pytest.raises(ImageError, match="frames"):
        warping_errors(clean[:3], motion)


@pytest.mark.skipif(not CLIP.is_file(), reason="../shared dashcam clip not present")
def test_moving_rain_over_the_dashcam_clip_flickers_more_than_the_clip():
    cap = cv2.VideoCapture(str(CLIP))
    frames = [cv2.resize(cap.read()[1], (256, 144), interpolation=cv2.INTER_AREA) for _ in range(5)]
    cap.release()
    rainy = list(rain_clip(frames, "medium", seed=0))
    motion = clip_motion(frames)
    assert motion.valid_fraction > 0.6
    assert np.mean(warping_errors(rainy, motion)) > np.mean(warping_errors(frames, motion)) + 1.0
