"""The shipped models leave the scene alone: clean road frames come back unchanged and lane markings survive.

Read from ../shared (the frames are never copied into the project); skipped, naming the folder, where
it is absent. The evaluation drives (evocargo, comma2k19) are in no training split.
"""
import numpy as np
import pytest

from tests.conftest import road_dir

LANE_FRAME = "evocargo_seq1_1595.jpg"  # a steep white centre line on dark asphalt, snow beside the road


def _derain(model: str):
    from drn_edge.evaluation.fidelity import torch_derain
    from drn_edge.model.checkpoint import load_model

    return torch_derain(load_model(model).eval())


def _tophat(rgb: np.ndarray) -> np.ndarray:
    """Thin bright structures (lane paint) above their local background: a 15 px white top-hat."""
    import cv2

    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    return cv2.morphologyEx(grey, cv2.MORPH_TOPHAT, cv2.getStructuringElement(cv2.MORPH_RECT, (15, 15))).astype(np.float32)


@pytest.mark.parametrize("model", ["drn_base", "drn_edge"])
def test_lane_markings_of_a_clean_frame_survive(model):
    from drn_edge.evaluation.eval_frames import fit_to_size
    from drn_edge.imageio import read_rgb

    clean = fit_to_size(read_rgb(road_dir("evocargo") / LANE_FRAME), 360, 640)
    before = _tophat(clean)
    lane = np.zeros(before.shape, bool)
    lane[170:] = before[170:] > 40  # the road half: paint stands 40+ grey levels above the asphalt
    assert lane.sum() > 2000
    ratio = _tophat(_derain(model)(clean))[lane] / before[lane]
    # Every part of the line keeps its contrast: the old weights broke it into dashes (10th percentile 0.3-0.5).
    assert ratio.mean() > 0.9 and np.quantile(ratio, 0.1) > 0.8, (ratio.mean(), np.quantile(ratio, 0.1))


@pytest.mark.parametrize("model", ["drn_base", "drn_edge"])
def test_clean_road_frames_come_back_unchanged(model):
    from drn_edge.evaluation.eval_frames import clean_dir_sources, fit_to_size
    from drn_edge.evaluation.metrics import psnr

    derain = _derain(model)
    frames = [fit_to_size(img, 360, 640) for d in ("evocargo", "comma2k19") for _, img in clean_dir_sources(road_dir(d))]
    scores = [psnr(derain(f), f) for f in frames]
    assert np.mean(scores) > 38 and min(scores) > 35, scores
