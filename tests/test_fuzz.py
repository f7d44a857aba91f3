"""Bounded fuzzing of every loader: any input gives a result or a DrnEdgeError, never another exception."""
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from drn_edge.errors import DrnEdgeError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])
json_values = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.floats(allow_nan=True) | st.text(max_size=8),
                           lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                           max_leaves=20)


@FUZZ
@given(st.dictionaries(st.sampled_from(["encoder", "decoder", "bottleneck", "in_channels", "kernel_size", "name", "x"]),
                       json_values, max_size=6))
def test_model_config_json(cfg):
    from drn_edge.model.drn import DRNConfig

    try:
        DRNConfig.from_dict(cfg)
    except DrnEdgeError:
        pass


@FUZZ
@given(st.binary(max_size=300) | json_values.map(lambda v: json.dumps(v).encode()))
def test_artifact_sidecar(tmp_path, data):
    from drn_edge.sidecar import read_sidecar, verify_artifact

    art = tmp_path / "drn.plan"
    art.write_bytes(b"x")
    (tmp_path / "drn.plan.json").write_bytes(data)
    try:
        read_sidecar(art)
        verify_artifact(art)
    except DrnEdgeError:
        pass


@FUZZ
@given(st.text(max_size=200), st.text(max_size=100))
def test_checkpoint_metadata(tmp_path, config_text, info_text):
    import torch
    from safetensors.torch import save_file

    from drn_edge.model.checkpoint import load_checkpoint

    p = tmp_path / "c.safetensors"
    save_file({"head.weight": torch.zeros(1)}, str(p), metadata={"drn_config": config_text, "drn_info": info_text})
    try:
        load_checkpoint(p)
    except DrnEdgeError:
        pass


@FUZZ
@given(st.binary(max_size=2000))
def test_checkpoint_bytes(tmp_path, data):
    from drn_edge.model.checkpoint import load_checkpoint

    p = tmp_path / "c.safetensors"
    p.write_bytes(data)
    with pytest.raises(DrnEdgeError):
        load_checkpoint(p)


@FUZZ
@given(st.binary(max_size=3000))
def test_image_decode(tmp_path, data):
    from drn_edge.imageio import read_rgb

    p = tmp_path / "x.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + data if data[:1] == b"\x00" else data)
    try:
        img = read_rgb(p)
        assert img.ndim == 3 and img.shape[2] == 3
    except DrnEdgeError:
        pass


@FUZZ
@given(hnp.arrays(st.sampled_from([np.uint8, np.float32, np.float64, np.int16, np.bool_]),
                  hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=5)))
def test_frame_validation(arr):
    from drn_edge.runtime.frames import check_frame

    try:
        out = check_frame(arr)
        assert out.flags.c_contiguous and out.ndim == 3 and out.shape[2] == 3
    except DrnEdgeError:
        pass


@FUZZ
@given(json_values)
def test_calibration_manifest(tmp_path, manifest):
    from drn_edge.export.calibration import read_manifest

    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    try:
        read_manifest(tmp_path)
    except DrnEdgeError:
        pass
