"""The evaluation suite: one frame builder, one fidelity function, drn-eval on checkpoints and artifacts."""
import json

import numpy as np
import pytest

from drn_edge.cli.evaluate import main as eval_main
from drn_edge.evaluation.eval_frames import EvalFrame, fit_to_size, frame_seed, heldout_sources, rain_frames
from drn_edge.evaluation.fidelity import PSNR_CAP_DB, evaluate, fidelity
from tests.conftest import SHARED

RAIN200H = SHARED / "eval" / "rain200h"
REAL_RAIN = SHARED / "data" / "road" / "rainy_real" / "nturain_rb2"


def test_frames_are_the_same_every_call_and_differ_by_seed_scheme():
    sources = heldout_sources(max_side=96)
    a, b = rain_frames(sources, ("medium",)), rain_frames(sources, ("medium",))
    assert all(np.array_equal(x.rainy, y.rainy) for x, y in zip(a, b))
    seeds = {frame_seed(i, lvl, g) for i in range(5) for lvl in ("low", "medium", "high")
             for g in ("preset", "streaks", "particles")}
    assert len(seeds) == 5 * 3 * 3


def test_held_out_sources_are_the_held_out_photos_only():
    from drn_edge.photos import HELDOUT_PHOTOS, TRAIN_PHOTOS

    names = [n for n, _ in heldout_sources()]
    assert names == list(HELDOUT_PHOTOS) and not set(names) & set(TRAIN_PHOTOS)


def test_fit_to_size_crops_to_aspect_instead_of_stretching():
    img = np.zeros((1024, 1280, 3), np.uint8)
    img[:152] = 255  # rows outside the central 16:9 band
    img[-152:] = 255
    out = fit_to_size(img, 360, 640)
    assert out.shape == (360, 640, 3) and out.max() == 0


def test_fidelity_caps_identical_outputs_and_groups():
    clean = np.full((16, 16, 3), 100, np.uint8)
    rainy = clean + 20
    frames = [EvalFrame("a", "g1", rainy, clean), EvalFrame("b", "g2", rainy, clean)]
    table = fidelity(frames, [clean, rainy], refs=[clean, rainy])
    assert table["g1"]["psnr"] == PSNR_CAP_DB and table["g1"]["psnr_vs_fp32"] == PSNR_CAP_DB
    assert table["g2"]["gain_db"] == 0.0 and table["g1"]["gain_db"] > 50
    with pytest.raises(ValueError, match="one output"):
        fidelity(frames, [clean])


def test_evaluate_identity_gains_nothing():
    frames = rain_frames(heldout_sources(max_side=64)[:2], ("high",))
    table, outs = evaluate(lambda x: x, frames)
    assert abs(table["high"]["gain_db"]) < 1e-9 and len(outs) == 2


@pytest.mark.skipif(not RAIN200H.is_dir(), reason="../shared/eval/rain200h not present")
def test_drn_eval_checkpoint_and_artifact_agree(tiny_checkpoint, tiny_onnx, tmp_path, capsys):
    common = ["--sizes", "32x48", "--pairs", str(RAIN200H), "--no-progress"]
    j1, j2 = tmp_path / "ckpt.json", tmp_path / "onnx.json"
    assert eval_main(["--checkpoint", str(tiny_checkpoint), "--json", str(j1)] + common) == 0
    out = capsys.readouterr().out
    assert "held-out 48x32" in out and "generators 48x32 medium" in out and "particles/medium" in out and "rain200h" in out
    assert eval_main(["--engine", str(tiny_onnx["float"]), "--json", str(j2), "--no-generators"] + common) == 0
    t1, t2 = json.loads(j1.read_text())["tables"], json.loads(j2.read_text())["tables"]
    for level in ("low", "medium", "high"):  # the same frames through torch and ONNX Runtime: the same numbers
        assert t1["held-out 48x32"][level]["psnr"] == pytest.approx(t2["held-out 48x32"][level]["psnr"], abs=0.05)
    assert not any(k.startswith("generators") for k in t2)


@pytest.mark.skipif(not REAL_RAIN.is_dir(), reason="../shared real rainy frames not present")
def test_drn_eval_real_rain_grid(tiny_checkpoint, tmp_path, capsys):
    grid = tmp_path / "real.jpg"
    assert eval_main(["--checkpoint", str(tiny_checkpoint), "--sizes", "16x16", "--no-generators", "--real",
                      str(REAL_RAIN), "--grid", str(grid), "--no-progress"]) == 0
    import cv2

    img = cv2.imread(str(grid))
    assert img is not None and img.shape[0] == 6 * 240
    assert "look, do not score" in capsys.readouterr().out


def test_drn_eval_bad_sizes_and_unwritable_json(tiny_checkpoint, tmp_path, capsys):
    assert eval_main(["--checkpoint", str(tiny_checkpoint), "--sizes", "big"]) == 2
    assert "--sizes takes HxW" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert eval_main(["--checkpoint", str(tiny_checkpoint), "--json", str(tmp_path / "file" / "r.json")]) == 2
    assert "cannot write" in capsys.readouterr().err
