"""Checkpoints: one safetensors file whose header carries the JSON model config. Never a pickle.

Training state for resuming (Adam moments, step) is stored the same way, so nothing in drn-edge
ever unpickles a file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from drn_edge.artifacts import SHIPPED_CHECKPOINT, resolve_checkpoint  # noqa: E402,F401
from drn_edge.checks import missing
from drn_edge.errors import CheckpointError, ConfigError
from drn_edge.model.drn import DRN, DRNConfig
from drn_edge.outputs import atomic_path, loads_bounded

CONFIG_KEY = "drn_config"
INFO_KEY = "drn_info"
FORMAT = "drn-edge/1"


def save_checkpoint(model: DRN, path: str | os.PathLike, info: dict | None = None,
                    extra_tensors: dict[str, torch.Tensor] | None = None) -> Path:
    """Write weights + config (+ optional JSON-able info and extra tensors such as optimizer state), atomically."""
    from safetensors.torch import save_file

    model = getattr(model, "module", model)  # unwrap DDP
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    for k, v in (extra_tensors or {}).items():
        tensors[k] = v.detach().cpu().contiguous()
    meta = {"format": FORMAT, CONFIG_KEY: json.dumps(model.cfg.to_dict()), INFO_KEY: json.dumps(info or {})}
    path = Path(path)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return path


def read_checkpoint(path: str | os.PathLike) -> tuple[DRNConfig, dict[str, torch.Tensor], dict]:
    """(config, all tensors, info) with specific errors for missing, corrupt and config-less files."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' {missing(path)}; pass the path of a .safetensors file written by drn-train")
    if path.suffix.lower() in (".pt", ".pth", ".pkl", ".ckpt", ".pickle", ".bin"):
        raise CheckpointError(
            f"'{path}' looks like a pickle checkpoint; drn-edge loads only .safetensors (pickles can run code). "
            "Convert it with safetensors.torch.save_file after loading it yourself in a trusted environment."
        )
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
            tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    except Exception as exc:  # safetensors raises several types for a damaged header or body
        raise CheckpointError(
            f"'{path}' is not a readable safetensors checkpoint ({type(exc).__name__}: {str(exc)[:200]}); "
            "the file may be truncated or corrupt: re-download or re-train it"
        ) from None
    if CONFIG_KEY not in meta:
        raise CheckpointError(
            f"'{path}' has no '{CONFIG_KEY}' entry in its safetensors metadata, so the model cannot be rebuilt; "
            "it was not written by drn-edge (use drn_edge.model.checkpoint.save_checkpoint)"
        )
    try:
        cfg_dict = loads_bounded(meta[CONFIG_KEY], "model config")
        info = loads_bounded(meta.get(INFO_KEY, "{}"), "checkpoint info", finite=False)  # a history may hold NaN
        if not isinstance(cfg_dict, dict) or not isinstance(info, dict):
            raise ValueError("config and info must be JSON objects")
        cfg = DRNConfig.from_dict(cfg_dict)
    except (ValueError, ConfigError, OverflowError, TypeError) as exc:
        raise CheckpointError(f"'{path}' has an invalid model config: {exc}") from None
    return cfg, tensors, info


def load_checkpoint(path: str | os.PathLike) -> tuple[DRN, dict, dict[str, torch.Tensor]]:
    """(model in eval mode, info, extra tensors that are not model weights)."""
    cfg, tensors, info = read_checkpoint(path)
    model = DRN(cfg)
    own = model.state_dict()
    weights = {k: v for k, v in tensors.items() if k in own}
    missing = sorted(set(own) - set(weights))
    if missing:
        raise CheckpointError(
            f"'{path}' does not match its config: {len(missing)} weights missing (e.g. {missing[:3]})"
        )
    bad = [f"{k}: file {tuple(weights[k].shape)} vs config {tuple(own[k].shape)}"
           for k in own if weights[k].shape != own[k].shape]
    if bad:
        raise CheckpointError(f"'{path}' weight shapes do not match its config: {bad[:3]}")
    bad = [k for k, v in weights.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"'{path}' has NaN or infinite weights in {len(bad)} tensor(s) (e.g. {bad[0]}): training "
                              "diverged or the file is damaged; use an earlier checkpoint")
    model.load_state_dict(weights)
    model.eval()
    extra = {k: v for k, v in tensors.items() if k not in own}
    return model, info, extra


def load_model(path: str | os.PathLike | None = None) -> DRN:
    """The shipped trained DRN (path=None or 'drn_base'), the shipped edge variant ('drn_edge'), or the model in
    another drn-edge checkpoint, in eval mode on CPU."""
    path = resolve_checkpoint(path)
    if path.parent == SHIPPED_CHECKPOINT.parent and not path.is_file():
        raise CheckpointError(f"the shipped checkpoint {path} is missing; reinstall drn-edge")
    model, _, _ = load_checkpoint(path)
    return model
