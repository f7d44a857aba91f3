"""User training data: clean folders and videos, paired sets in the common layouts, clear errors."""
import subprocess
import sys

import cv2
import numpy as np
import pytest

from drn_edge.errors import DataError
from drn_edge.imageio import find_pairs, read_pairs
from drn_edge.train.scenes import dead_leaves
from drn_edge.train.sources import MixedSampler, PairedSource, SyntheticRainSource, read_clean_dir


def _img(seed, h=48, w=64):
    return np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)


def _write(path, img):
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)


@pytest.mark.parametrize("layout", [("input", "target"), ("rain", "norain"), ("rainy", "gt")])
def test_paired_folder_layouts(tmp_path, layout):
    for i in range(3):
        _write(tmp_path / layout[0] / f"{i}.png", _img(i))
        _write(tmp_path / layout[1] / f"{i}.png", _img(10 + i))
    pairs = find_pairs(tmp_path)
    assert [p[0] for p in pairs] == ["0", "1", "2"]
    assert all(p[1].parent.name == layout[0] and p[2].parent.name == layout[1] for p in pairs)


def test_spa_data_name_pairs(tmp_path):
    for i in range(2):
        _write(tmp_path / f"{i:03d}rain.png", _img(i))
        _write(tmp_path / f"{i:03d}gt.png", _img(5 + i))
    assert [p[0] for p in find_pairs(tmp_path)] == ["000", "001"]


def test_unmatched_and_mismatched_pairs_are_clear_errors(tmp_path):
    _write(tmp_path / "input" / "a.png", _img(0))
    _write(tmp_path / "input" / "b.png", _img(1))
    _write(tmp_path / "target" / "a.png", _img(2))
    with pytest.raises(DataError, match="1 in input/ without a clean partner .*'b'"):
        find_pairs(tmp_path)
    _write(tmp_path / "target" / "b.png", _img(3, 40, 64))
    with pytest.raises(DataError, match="differ in size"):
        read_pairs(tmp_path)


def test_not_a_paired_folder(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        find_pairs(tmp_path / "missing")
    _write(tmp_path / "x.png", _img(0))
    with pytest.raises(DataError, match="not a paired rain dataset"):
        find_pairs(tmp_path)
    (tmp_path / "input").mkdir()
    (tmp_path / "target").mkdir()
    with pytest.raises(DataError, match="no images"):
        find_pairs(tmp_path)


def test_clean_dir_reads_images_and_video_frames(tmp_path):
    _write(tmp_path / "a.jpg", _img(0))
    writer = cv2.VideoWriter(str(tmp_path / "clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 48))
    for i in range(31):
        writer.write(_img(i))
    writer.release()
    images = read_clean_dir(tmp_path)
    assert len(images) == 1 + 3  # one still + frames 0, 15, 30 of the clip
    assert all(im.shape == (48, 64, 3) and im.dtype == np.uint8 for im in images)


def test_clean_dir_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_clean_dir(tmp_path / "nope")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DataError, match="holds no images"):
        read_clean_dir(tmp_path)
    (tmp_path / "bad.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot decode image"):
        read_clean_dir(tmp_path)


def test_mixed_sampler_draws_by_weight_and_crops_aligned_pairs():
    clean = _img(1, 96, 96)
    paired = PairedSource([(clean, clean)])           # identical pair: crops must stay identical
    synthetic = SyntheticRainSource([clean])
    sampler = MixedSampler([paired, synthetic], [1.0, 0.0], crop=32, seed=0)
    for _ in range(5):
        rainy, c = sampler.sample()
        assert rainy.shape == (32, 32, 3) and np.array_equal(rainy, c)
    sampler = MixedSampler([paired, synthetic], [0.0, 1.0], crop=32, seed=0)
    assert any(not np.array_equal(*sampler.sample()) for _ in range(5))
    with pytest.raises(DataError, match="one non-negative number per source"):
        MixedSampler([paired], [1.0, 2.0])


def test_drn_train_on_user_folders(tmp_path):
    clean = tmp_path / "clean"
    for i in range(2):
        _write(clean / f"{i}.png", _img(i, 64, 64))
    pairs = tmp_path / "pairs"
    for i in range(2):
        _write(pairs / "rain" / f"{i}.png", _img(i, 40, 40))
        _write(pairs / "norain" / f"{i}.png", _img(i + 3, 40, 40))
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "drn_edge.cli.train", "--out", str(out), "--model", "drn_tiny", "--steps", "2",
           "--batch", "2", "--crop", "32", "--val-every", "2", "--no-progress", "--clean", str(clean), "--pairs",
           str(pairs), "--val-pairs", str(pairs), "--rain-mix", "photoshop=1", "--weights", "0,1,1", "--threads", "1"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert (out / "last.safetensors").is_file() and "checkpoint:" in res.stdout
    assert "rain generators drawn photoshop 100 %" in res.stdout
    # A second run into the same folder without --resume refuses to overwrite it.
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "already exists: pass --resume" in res.stderr
    # --resume with nothing to resume is an error, not a silent fresh start.
    res = subprocess.run(cmd[:4] + [str(tmp_path / "empty"), "--resume"] + cmd[5:], capture_output=True, text=True,
                         timeout=300)
    assert res.returncode == 2 and "no checkpoint to resume" in res.stderr
    # Too few weights for the sources: a clear error, not a traceback.
    bad = cmd[:4] + [str(tmp_path / "run2")] + cmd[5:-4] + ["--weights", "1", "--threads", "1"]
    res = subprocess.run(bad, capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "--weights needs 3 values" in res.stderr, res.stderr


def test_training_images_are_decoded_lazily_under_a_memory_bound(tmp_path):
    from drn_edge.train.sources import LazyImages

    for i in range(6):
        _write(tmp_path / f"{i}.png", _img(i, 64, 64))
    images = read_clean_dir(tmp_path)
    assert isinstance(images, LazyImages) and len(images) == 6 and not images._cache  # nothing held after the check
    small = LazyImages(images.files, cache_bytes=2 * 64 * 64 * 3)
    for i in range(6):
        assert np.array_equal(small[i], _img(i, 64, 64)[..., ::-1])  # written as BGR, read as RGB
    assert len(small._cache) == 2 and small._bytes <= 2 * 64 * 64 * 3  # the bound holds


def test_hazy_scenes_lower_contrast_more_at_the_top_and_stay_in_the_target():
    import numpy as np

    from drn_edge.train.sources import hazy_scene

    rng = np.random.default_rng(3)
    img = rng.integers(0, 120, (64, 64, 3), dtype=np.uint8)
    hazy = hazy_scene(img, np.random.default_rng(5))
    assert hazy.dtype == np.uint8 and hazy.shape == img.shape
    assert hazy.std() < img.std() and hazy.mean() > img.mean()  # brighter, flatter
    top, bottom = hazy[:8].astype(float), hazy[-8:].astype(float)
    assert top.std() <= bottom.std() + 1.0  # at least as hazy towards the top


def test_video_camera_softens_sharpens_and_blocks_rainy_frame_and_target_alike():
    from drn_edge.train.sources import SyntheticRainSource, video_camera

    camera = video_camera(np.random.default_rng(1))
    fine = np.indices((64, 64)).sum(axis=0) % 2 * 200  # 1 px checkerboard: shrinking loses it
    fine = np.repeat(fine[..., None], 3, axis=2).astype(np.uint8)
    assert camera(fine).std() < 0.5 * fine.std()
    edge = np.full((64, 64, 3), 60, np.uint8)
    edge[:, 32:] = 180
    out = camera(edge).astype(int)
    assert out[:, 33:40].max() > 185 or out[:, 24:31].min() < 55  # a sharpening halo beside the edge
    assert np.array_equal(camera(edge), camera(edge))  # one camera: the same for the rainy frame and its target

    # every example through a camera: the target is no longer the clean crop's pixels (JPEG alone would keep a flat
    # frame flat; the camera's shrink keeps it flat too, so a textured frame is used)
    texture = np.random.default_rng(2).integers(0, 255, (96, 96, 3), dtype=np.uint8)
    rng = np.random.default_rng(0)
    plain = SyntheticRainSource([texture], video_look=0.0)
    seen = SyntheticRainSource([texture], video_look=1.0)
    assert np.mean([seen.sample(rng, 64)[1].std() for _ in range(6)]) < \
        0.8 * np.mean([plain.sample(rng, 64)[1].std() for _ in range(6)])


@pytest.mark.parametrize("option", ["--video-look", "--dead-leaves"])
def test_cli_rejects_a_share_outside_0_to_1(tmp_path, option):
    out = subprocess.run([sys.executable, "-m", "drn_edge.cli.train", option, "1.5", "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and option in out.stderr and "Traceback" not in out.stderr
    assert not any(tmp_path.iterdir())


def test_dead_leaves_scenes_have_structure_at_every_scale_and_many_shapes():
    scene = dead_leaves(np.random.default_rng(4), 160)
    assert scene.shape == (160, 160, 3) and scene.dtype == np.uint8
    assert np.array_equal(scene, dead_leaves(np.random.default_rng(4), 160))  # a seed is a scene
    grey = cv2.cvtColor(scene, cv2.COLOR_RGB2GRAY).astype(np.float32)
    fine = grey - cv2.GaussianBlur(grey, (0, 0), 1.5)
    coarse = cv2.GaussianBlur(grey, (0, 0), 8.0)
    assert fine.std() > 3 and coarse.std() > 3  # edges and texture, and large shapes of their own shade
    colours, counts = np.unique(scene.reshape(-1, 3) // 16, axis=0, return_counts=True)
    assert len(colours) > 50 and counts.max() < 0.5 * counts.sum()  # many shapes, none covering the scene


def test_rich_leaf_textures_are_textured_where_plain_leaves_are_flat():
    def inner_texture(style):  # fine-scale contrast left after the leaves' own edges are masked out
        stds = []
        for seed in range(8):
            grey = cv2.cvtColor(dead_leaves(np.random.default_rng(seed), 160, style), cv2.COLOR_RGB2GRAY)
            grey = grey.astype(np.float32)
            fine = np.abs(grey - cv2.GaussianBlur(grey, (0, 0), 2.0))
            stds.append(np.median(fine))  # the median pixel lies inside a leaf, not on an edge
        return float(np.mean(stds))

    assert inner_texture("rich") > 1.3 * inner_texture("plain")  # measured 1.6x
    with pytest.raises(KeyError):
        dead_leaves(np.random.default_rng(0), 32, "velvet")


@pytest.mark.parametrize("option, value", [("--leaf-textures", "velvet"), ("--rain-mix", "particles=1")])
def test_cli_rejects_an_unknown_leaf_texture_or_rain_generator(tmp_path, option, value):
    out = subprocess.run([sys.executable, "-m", "drn_edge.cli.train", option, value, "--out", str(tmp_path)],
                         capture_output=True, text=True)
    assert out.returncode == 2 and option in out.stderr and "Traceback" not in out.stderr
    assert not any(tmp_path.iterdir())


def test_dead_leaves_share_replaces_the_training_frame():
    grey = np.full((96, 96, 3), 128, np.uint8)
    rng = np.random.default_rng(0)
    frames = SyntheticRainSource([grey], dead_leaves=0.0)
    leaves = SyntheticRainSource([grey], dead_leaves=1.0)
    # a flat frame stays mostly flat under the scene negatives and haze; a dead-leaves scene never is
    assert np.median([frames.sample(rng, 64)[1].std() for _ in range(8)]) < 3
    assert min(leaves.sample(rng, 64)[1].std() for _ in range(8)) > 10
