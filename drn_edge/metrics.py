"""Kept for `drn_edge.metrics.psnr/ssim/uqi`: the metrics live in drn_edge.evaluation.metrics."""
from drn_edge.evaluation.metrics import psnr, ssim, uqi

__all__ = ["psnr", "ssim", "uqi"]
