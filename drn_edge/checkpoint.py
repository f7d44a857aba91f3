"""Kept for `drn_edge.checkpoint.save_checkpoint/load_model`: checkpoints live in drn_edge.model.checkpoint."""
from drn_edge.model.checkpoint import load_checkpoint, load_model, read_checkpoint, save_checkpoint

__all__ = ["save_checkpoint", "load_model", "load_checkpoint", "read_checkpoint"]
