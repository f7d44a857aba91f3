"""Requests check themselves (each message names its flag); one vocabulary for failed frames; one layout rule."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from drn_edge.errors import BenchError, DrnEdgeError, EngineError


@pytest.mark.parametrize("kwargs, flag", [
    ({"crop": 20}, "--crop"), ({"crop": 8}, "--crop"), ({"lr": float("nan")}, "--lr"), ({"steps": 0}, "--steps"),
    ({"warmup": -1}, "--warmup"), ({"val_side": 5}, "--val-side"), ({"max_minutes": float("inf")}, "--minutes"),
    ({"weights": (0.0, 0.0)}, "--weights"), ({"model": "drn_huge"}, "--model"), ({"seed": -2}, "--seed"),
    ({"no_default_data": True}, "--no-default-data"), ({"resume": True, "overwrite": True}, "--resume"),
])
def test_train_config_checks_itself_naming_the_flag(kwargs, flag):
    from drn_edge.train.loop import TrainConfig

    with pytest.raises(DrnEdgeError, match=flag):
        TrainConfig(**kwargs)
    cfg = TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.steps = 5  # a request is what was asked: nothing changes it on the way


@pytest.mark.parametrize("cls, kwargs, flag", [
    ("BenchRequest", {"engines": ("e.onnx",), "frames": 0}, "--frames"),
    ("BenchRequest", {"engines": ("e.onnx",), "height": 8, "width": 5000}, "--size"),
    ("BenchRequest", {"engines": ("e.onnx",), "threads": 0}, "--threads"),
    ("BenchRequest", {"engines": ("e.onnx",), "backend": "cuda"}, "--backend"),
    ("BenchRequest", {"engines": (), "pytorch_baseline": False}, "--engine"),
    ("VideoBenchRequest", {"clip": "c.mp4", "level": "drizzle"}, "--rain"),
    ("VideoBenchRequest", {"clip": "c.mp4", "generator": "hail"}, "--rain-generator"),
    ("VideoBenchRequest", {"clip": "c.mp4", "frames": 1}, "--frames"),
    ("StreamBenchRequest", {"engine": "e.onnx", "cameras": 0}, "--cameras"),
    ("StreamBenchRequest", {"engine": "e.onnx", "fps": float("nan")}, "--fps"),
    ("StreamBenchRequest", {"engine": "e.onnx", "policy": "drop"}, "--policy"),
    ("StreamBenchRequest", {"engine": "e.onnx", "queue_size": 0}, "--queue"),
])
def test_bench_requests_check_themselves_naming_the_flag(cls, kwargs, flag):
    from drn_edge.bench import requests

    with pytest.raises(BenchError, match=flag):
        getattr(requests, cls)(**kwargs)


def test_one_hxw_parser_for_every_command():
    from drn_edge.checks import parse_hxw

    assert parse_hxw("720X1280", "--size") == (720, 1280)
    for bad in ("720", "axb", "4097x8", "7x64", "720x1280x3", ""):
        with pytest.raises(DrnEdgeError, match="--size"):
            parse_hxw(bad, "--size")


def test_threads_are_refused_by_argparse_before_any_work(capsys):
    from drn_edge.cli.derain import main

    with pytest.raises(SystemExit) as exc:
        main(["x.png", "--out", "o", "--threads", "0"])
    assert exc.value.code == 2 and "--threads: takes a whole number >= 1, got '0'" in capsys.readouterr().err


def test_one_failed_frame_vocabulary(tiny_onnx):
    from drn_edge.runtime import DerainEngine, StreamRunner
    from drn_edge.runtime.frame_policy import ENGINE_ON_ERROR, OVERLOAD_POLICIES, RUNNER_ON_ERROR

    with pytest.raises(EngineError, match="on_error must be one of 'raise', 'passthrough'"):
        DerainEngine(tiny_onnx["float"], on_error="drop")
    with DerainEngine(tiny_onnx["float"]) as engine:
        with pytest.raises(EngineError, match="on_error must be one of 'passthrough', 'drop', 'stop'"):
            StreamRunner(engine, on_error="raise")
        with StreamRunner(engine) as runner:
            with pytest.raises(EngineError, match="policy must be one of 'drop-oldest', 'passthrough'"):
                runner.add_stream("a", sink=print, policy="drop")
    assert set(ENGINE_ON_ERROR) & set(RUNNER_ON_ERROR) == {"passthrough"} and "passthrough" in OVERLOAD_POLICIES


def test_one_layout_rule_for_graph_io(tiny_onnx):
    from drn_edge.onnx_spec import io_shape
    from drn_edge.runtime import DerainEngine

    assert io_shape("uint8", 2, 64, 96) == (2, 64, 96, 3) and io_shape("float", 2, 64, 96) == (2, 3, 64, 96)
    with DerainEngine(tiny_onnx["uint8_fixed"]) as e:
        batch = e.io.grey_batch(2, 64, 96)
        assert batch.shape == (2, 64, 96, 3) and batch.dtype == np.uint8 and e.io.mode == "uint8"


def test_one_rounding_rule():
    from drn_edge.imageio import to_float01, to_uint8

    x = np.array([0, 1, 127, 128, 254, 255], np.uint8)
    assert (to_uint8(to_float01(x)) == x).all()  # a round trip is exact
    assert to_uint8(np.array([-0.2, 0.5 / 255, 1.7])).tolist() == [0, 1, 255]


def test_a_portrait_size_says_what_hxw_made_of_it(capsys):
    """--size 1280x720 silently built a portrait engine (height 1280)."""
    from drn_edge.checks import parse_hxw

    assert parse_hxw("1280x720", "--size") == (1280, 720)
    err = capsys.readouterr().err
    assert "portrait frame 1280 high and 720 wide" in err and "--size 720x1280" in err
    assert parse_hxw("720x1280", "--size") == (720, 1280)
    assert capsys.readouterr().err == ""


def test_bench_sizes_and_video_lengths_are_bounded_up_front():
    """--size 4096x4096 was accepted and refused by every engine after minutes; a video bench held ~20 MB per
    720p frame and accepted 10,000 frames."""
    from drn_edge.bench.requests import BenchRequest, VideoBenchRequest
    from drn_edge.errors import BenchError

    with pytest.raises(BenchError, match="more than an engine takes"):
        BenchRequest(engines=("e.onnx",), height=4096, width=4096)
    with pytest.raises(BenchError, match="GiB of frames"):
        VideoBenchRequest(clip="c.mp4", engines=("e.onnx",), height=720, width=1280, frames=5000)
    VideoBenchRequest(clip="c.mp4", engines=("e.onnx",), height=360, width=640, frames=300)
