"""Reliability round 4: the red team's second list, each item with the probe that found it (tiny models, small frames)."""
from pathlib import Path

import cv2
import numpy as np
import pytest

from drn_edge.errors import CheckpointError


@pytest.mark.parametrize("bad", ["Infinity", "1e400", "NaN", "-Infinity"])
def test_round4_item17_checkpoint_config_with_non_finite_numbers_is_one_error(tiny_checkpoint, tmp_path, bad):
    """A config holding Infinity or 1e400 crashed every loader with an OverflowError traceback."""
    import json

    from safetensors import safe_open
    from safetensors.torch import save_file

    from drn_edge.model.checkpoint import CONFIG_KEY, load_checkpoint

    with safe_open(str(tiny_checkpoint), "pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    cfg = json.loads(meta[CONFIG_KEY])
    text = json.dumps(cfg)
    first = str(cfg["encoder"][0]["out"])
    meta[CONFIG_KEY] = text.replace(f'"out": {first}', f'"out": {bad}', 1)
    assert meta[CONFIG_KEY] != text
    path = tmp_path / "bad.safetensors"
    save_file(tensors, str(path), metadata=meta)
    with pytest.raises(CheckpointError, match="invalid model config"):
        load_checkpoint(path)


def test_round4_item10_reports_never_replace_the_detector_classes_file(tiny_checkpoint, tmp_path, capsys):
    from drn_edge.cli.evaluate import main as eval_main

    classes = tmp_path / "classes.txt"
    classes.write_text("person\ncar\n")
    code = eval_main(["--checkpoint", str(tiny_checkpoint), "--sizes", "16x16", "--no-generators", "--detector",
                      str(tmp_path / "det.onnx"), "--detector-classes", str(classes), "--json", str(classes)])
    assert code == 2 and classes.read_text() == "person\ncar\n"
    assert "is an input of this run" in capsys.readouterr().err


@pytest.mark.parametrize("flags, message", [(["--seconds", "1e308"], "--seconds must be"),
                                            (["--fps", "1e-9"], "--fps must be from 0.1"),
                                            (["--fps", "5000"], "--fps must be from 0.1")])
def test_round4_item19_stream_bench_rates_are_bounded(tiny_onnx, capsys, flags, message):
    from drn_edge.cli.bench import main as bench_main

    assert bench_main(["streams", "--engine", str(tiny_onnx["float"]), "--cameras", "1", *flags]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_round4_item7_triton_never_replaces_another_models_repository(tiny_checkpoint, tmp_path, capsys):
    import torch

    from drn_edge.cli.export import main as export_main
    from drn_edge.model.checkpoint import load_checkpoint, save_checkpoint

    other = load_checkpoint(tiny_checkpoint)[0]
    with torch.no_grad():
        other.head.bias.add_(0.01)
    other_ckpt = save_checkpoint(other, tmp_path / "other.safetensors")
    repo = tmp_path / "repo"
    common = ["--no-fidelity", "--backend", "onnx", "--triton", str(repo)]
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "a"), *common]) == 0
    first = (repo / "drn" / "1" / "model.onnx").read_bytes()
    # the same checkpoint again: fine; another model: refused before any export, the repository unchanged
    assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "a2"), *common]) == 0
    capsys.readouterr()
    assert export_main(["--checkpoint", str(other_ckpt), "--out", str(tmp_path / "b"), *common]) == 2
    assert "already holds model 'drn' from another export" in capsys.readouterr().err
    assert (repo / "drn" / "1" / "model.onnx").read_bytes() == first and not (tmp_path / "b").exists()
    assert export_main(["--checkpoint", str(other_ckpt), "--out", str(tmp_path / "b"), *common, "--overwrite"]) == 0
    assert (repo / "drn" / "1" / "model.onnx").read_bytes() != first


def test_round4_item5_an_int8_model_that_ruins_frames_is_an_error(tmp_path, capsys):
    """--calib of black frames gave INT8 at 9.5 dB (below the rainy input) with exit 0 and no warning."""
    from drn_edge.cli.export import main as export_main
    from drn_edge.imageio import write_image

    black = tmp_path / "black"
    black.mkdir()
    for i in range(16):
        write_image(black / f"{i}.png", np.zeros((64, 96, 3), np.uint8))
    out = tmp_path / "out"
    assert export_main(["--checkpoint", "drn_edge", "--out", str(out), "--int8", "--calib", str(black), "--calib-rain", "none",
                        "--threads", "2"]) == 2
    err = capsys.readouterr().err
    assert "drn.int8.onnx loses" in err and "--allow-drop" in err
    assert not (out / "drn.int8.onnx").exists() and (out / "drn.onnx").exists()


def test_round4_item5_allow_drop_keeps_it_with_a_warning(tmp_path):
    from drn_edge.export.pipeline import MAX_DROP_DB, _check_drops, _Export
    from drn_edge.export.request import ExportRequest

    path = tmp_path / "drn.int8.onnx"
    path.write_bytes(b"x")
    logged = []
    st = _Export(ExportRequest(out_dir=str(tmp_path), allow_drop=True), tmp_path, logged.append)
    st.onnx = {"int8": path}
    _check_drops(st, {"onnx-int8": {"drop_db": MAX_DROP_DB + 5}})
    assert path.exists() and "WARNING" in logged[0] and "kept because of --allow-drop" in st.result.notes[0]


@pytest.mark.parametrize("source", ["rtsp://" + "a" * 300 + "/x", "²", "99999999999999999999999", "x" * 300])
def test_round4_item18_odd_live_source_strings_are_one_line(tiny_onnx, tmp_path, capsys, source):
    from drn_edge.cli.derain import main as derain_main

    code = derain_main([source, "--engine", str(tiny_onnx["float"]), "--out", str(tmp_path / "o.mp4")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err


def test_round4_suffix_with_a_path_separator_is_refused(tiny_onnx, tmp_path, capsys):
    from drn_edge.cli.derain import main as derain_main
    from drn_edge.imageio import write_image

    write_image(tmp_path / "a.png", np.zeros((32, 48, 3), np.uint8))
    code = derain_main([str(tmp_path / "a.png"), "--engine", str(tiny_onnx["float"]), "--out", str(tmp_path / "o"),
                        "--suffix", "/../../escape"])
    assert code == 2 and "--suffix" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_round4_item4_two_runs_into_one_output_do_not_overwrite_each_other(tiny_onnx, tiny_checkpoint, tmp_path, capsys):
    """Two drn-derain runs at once into one --out: all of A's outputs were B's, both exit 0. Now the second is
    refused while the first holds the output (the lock ends with its process)."""
    from drn_edge.cli.derain import main as derain_main
    from drn_edge.cli.export import main as export_main
    from drn_edge.imageio import write_image
    from drn_edge.outputs import output_lock
    from drn_edge.train.loop import TrainConfig, train

    write_image(tmp_path / "a.png", np.zeros((32, 48, 3), np.uint8))
    out = tmp_path / "o"
    with output_lock(out, "drn-derain"):  # run A, still writing
        assert derain_main([str(tmp_path / "a.png"), "--engine", str(tiny_onnx["float"]), "--out", str(out)]) == 2
        assert "another run (pid" in capsys.readouterr().err
    assert derain_main([str(tmp_path / "a.png"), "--engine", str(tiny_onnx["float"]), "--out", str(out)]) == 0
    with output_lock(tmp_path / "e", "drn-export"):
        assert export_main(["--checkpoint", str(tiny_checkpoint), "--out", str(tmp_path / "e"), "--no-fidelity"]) == 2
    from drn_edge.errors import OutputError

    with output_lock(tmp_path / "t", "drn-train"), pytest.raises(OutputError, match="another run"):
        train(TrainConfig(out=str(tmp_path / "t"), model="drn_tiny", steps=1, batch=1, crop=16), progress=False)
    assert not list(tmp_path.glob(".*.drn-lock"))  # no lock file left behind


def test_round4_item16_inspect_survives_sidecar_fields_of_the_wrong_type(tiny_onnx, tmp_path, capsys):
    import json
    import shutil

    from drn_edge.cli.inspect import main as inspect_main

    onnx = tmp_path / "drn.onnx"
    shutil.copyfile(tiny_onnx["float"], onnx)
    record = json.loads(Path(f"{tiny_onnx['float']}.json").read_text())
    record |= {"fidelity": {"psnr": "high", "drop_db": [1]}, "io": 5, "spec": "x", "source": None, "bytes": "many"}
    Path(f"{onnx}.json").write_text(json.dumps(record))
    assert inspect_main([str(onnx)]) == 0
    out = capsys.readouterr().out
    assert "fidelity    ? dB" in out and "Traceback" not in out
    onnx.write_bytes(b"not an onnx graph")  # a damaged graph whose sidecar is edited to match
    from drn_edge.outputs import sha256_file

    record |= {"sha256": sha256_file(onnx), "bytes": onnx.stat().st_size}
    Path(f"{onnx}.json").write_text(json.dumps(record))
    assert inspect_main([str(onnx)]) == 2
    assert "not a readable ONNX graph" in capsys.readouterr().err


def test_round4_resume_checks_the_run_it_continues(tmp_path):
    """--resume with another --model (or with --init) silently continued the old run; log.csv kept the rows of
    steps that were lost."""
    import csv

    from drn_edge.train.loop import TrainConfig, train

    out = str(tmp_path / "run")
    base = dict(out=out, model="drn_tiny", batch=1, crop=16, val_every=2, save_every=2, val_side=32)
    train(TrainConfig(steps=4, **base), progress=False)
    log = tmp_path / "run" / "log.csv"
    with open(log, "a", newline="") as f:  # a step validated after the last save, then lost (killed)
        csv.writer(f).writerow([5, "0.1", "1e-3", "0", "0", "0", "0"])
    with pytest.raises(CheckpointError, match="--model drn_tiny run"):
        train(TrainConfig(steps=6, resume=True, **(base | {"model": "drn_small"})), progress=False)
    with pytest.raises(CheckpointError, match="--init applies to new runs only"):
        train(TrainConfig(steps=6, resume=True, init="drn_base", **base), progress=False)
    train(TrainConfig(steps=6, resume=True, **base), progress=False)
    steps = [int(r[0]) for r in list(csv.reader(open(log)))[1:]]
    assert steps == sorted(steps) and steps.count(5) == 0 and steps[-1] == 6


def test_round4_item6_bench_never_compares_an_engine_with_another_model(tiny_checkpoint, tmp_path, capsys):
    import shutil

    import torch

    from drn_edge.cli.bench import main as bench_main
    from drn_edge.cli.export import main as export_main
    from drn_edge.model.checkpoint import load_checkpoint, save_checkpoint

    run = tmp_path / "run"
    run.mkdir()
    ckpt = run / "best.safetensors"
    shutil.copyfile(tiny_checkpoint, ckpt)
    assert export_main(["--checkpoint", str(ckpt), "--out", str(run), "--no-fidelity", "--backend", "onnx"]) == 0
    other = load_checkpoint(tiny_checkpoint)[0]
    with torch.no_grad():
        other.head.bias.add_(0.05)
    other_ckpt = save_checkpoint(other, tmp_path / "other" / "other.safetensors")
    assert export_main(["--checkpoint", str(other_ckpt), "--out", str(tmp_path / "other"), "--no-fidelity",
                        "--backend", "onnx"]) == 0
    capsys.readouterr()
    quick = ["--size", "32x48", "--frames", "1", "--warmup", "1", "--warmup-seconds", "0", "--no-progress"]
    # two engines of two models: the second was compared against the first one's model
    assert bench_main(["--engine", str(run / "drn.onnx"), "--engine", str(tmp_path / "other" / "drn.onnx"), *quick]) == 2
    assert "exported from another checkpoint" in capsys.readouterr().err
    # --checkpoint naming another model than the engine's
    assert bench_main(["--engine", str(run / "drn.onnx"), "--checkpoint", str(other_ckpt), *quick]) == 2
    assert "exported from another checkpoint" in capsys.readouterr().err
    # the run folder's best.safetensors replaced after the export: a false drop before
    save_checkpoint(other, ckpt)
    assert bench_main(["--engine", str(run / "drn.onnx"), *quick]) == 2
    assert "has changed since" in capsys.readouterr().err


def test_round4_item13_a_huge_declared_image_is_refused_before_decoding(tmp_path, capsys):
    """A 195 KiB PNG of 8000x8000 took drn-rain to 3.5 GB; the header now says so before any decoding."""
    from drn_edge.cli.rain import main as rain_main
    from drn_edge.imageio import declared_size, write_image

    big = tmp_path / "big.png"
    cv2.imwrite(str(big), np.zeros((8000, 8000, 3), np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    assert big.stat().st_size < 1_000_000 and declared_size(big) == (8000, 8000)
    write_image(tmp_path / "small.jpg", np.zeros((48, 64, 3), np.uint8))
    assert declared_size(tmp_path / "small.jpg") == (48, 64)
    assert rain_main([str(big), "--out", str(tmp_path / "o")]) == 2
    assert "8000x8000 (HxW" in capsys.readouterr().err
