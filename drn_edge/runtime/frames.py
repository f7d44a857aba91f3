"""Frame checks and pre/post-processing shared by every backend (numpy only, no torch)."""
from __future__ import annotations

import numpy as np

from drn_edge.errors import ImageError
from drn_edge.imageio import to_float01
from drn_edge.onnx_spec import MULTIPLE

FRAME_DTYPES = (np.uint8, np.float32, np.float64)
FLOAT_SLACK = 1e-3  # float frames a little outside [0, 1] from rounding are fine; 0..255 floats are not
DEFAULT_MAX_PIXELS = 2048 * 2048  # ~4.2 MP: 1080p and 1440p frames pass; a 24 MP photo would need tens of GB


def check_frame(frame, index: int | None = None, max_pixels: int | None = None) -> np.ndarray:
    """Return a C-contiguous HxWx3 frame, or raise ImageError saying exactly what is wrong."""
    where = "frame" if index is None else f"frame {index}"
    if not isinstance(frame, np.ndarray):
        raise ImageError(f"{where} must be a numpy array (HxWx3), got {type(frame).__name__}")
    if frame.ndim == 2 or (frame.ndim == 3 and frame.shape[2] == 1):
        raise ImageError(f"{where} is greyscale {frame.shape}; convert it with cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)")
    if frame.ndim != 3 or frame.shape[2] not in (3,):
        hint = " (BGRA: drop alpha with cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR))" if frame.ndim == 3 and frame.shape[2] == 4 else ""
        raise ImageError(f"{where} must be HxWx3, got shape {frame.shape}{hint}")
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise ImageError(f"{where} is empty (shape {frame.shape})")
    if frame.dtype not in FRAME_DTYPES:
        raise ImageError(f"{where} has dtype {frame.dtype}; use uint8 (0..255) or float32 (0..1)")
    if max_pixels and frame.shape[0] * frame.shape[1] > max_pixels:
        raise ImageError(f"{where} is {frame.shape[0]}x{frame.shape[1]} (HxW, {frame.shape[0] * frame.shape[1]:,} pixels), more "
                         f"than max_pixels={max_pixels:,}; resize it first, or raise the limit if this machine has "
                         "the memory (drn-derain --max-pixels N; DerainEngine(max_pixels=N))")
    if frame.dtype != np.uint8:
        lo, hi = float(frame.min()), float(frame.max())  # NaN or inf anywhere shows up here: no extra pass
        if not (np.isfinite(lo) and np.isfinite(hi)):
            raise ImageError(f"{where} contains NaN or infinite values")
        if lo < -FLOAT_SLACK or hi > 1 + FLOAT_SLACK:
            raise ImageError(f"{where} is {frame.dtype} with values in [{lo:.4g}, {hi:.4g}]; float frames must lie in "
                             "[0, 1] (divide 0..255 floats by 255, or pass uint8)")
    return np.ascontiguousarray(frame)


def padded_size(h: int, w: int, multiple: int = MULTIPLE) -> tuple[int, int]:
    return h + (-h) % multiple, w + (-w) % multiple


def pad_to(frame: np.ndarray, h: int, w: int) -> np.ndarray:
    """Reflect-pad an HxWxC frame at the bottom/right up to (h, w) (edge-pad where the frame is too small to reflect)."""
    ph, pw = h - frame.shape[0], w - frame.shape[1]
    if ph == 0 and pw == 0:
        return frame
    mode = "reflect" if frame.shape[0] > ph and frame.shape[1] > pw else "edge"
    return np.pad(frame, ((0, ph), (0, pw), (0, 0)), mode=mode)


def from_uint8(out: np.ndarray, like: np.dtype) -> np.ndarray:
    return out if like == np.uint8 else to_float01(out).astype(like)


def bgr_batch_to_nchw_rgb(batch_bgr: np.ndarray) -> np.ndarray:
    """uint8 NHWC BGR -> float32 NCHW RGB in [0, 1] (for engines exported with float I/O)."""
    return hwc_to_nchw_float(batch_bgr[..., ::-1])


def hwc_to_nchw_float(images: np.ndarray) -> np.ndarray:
    """uint8 (N)HWC -> float32 NCHW in [0, 1], channel order kept: the one such conversion in drn-edge."""
    batch = images[None] if images.ndim == 3 else images
    x = np.ascontiguousarray(batch.transpose(0, 3, 1, 2), dtype=np.float32)
    x *= np.float32(1 / 255)
    return x


def rgb_to_nchw_float(rgb: np.ndarray, multiple: int = MULTIPLE) -> np.ndarray:
    """HxWx3 uint8 RGB -> 1x3xH'xW' float32 in [0, 1], reflect-padded to a multiple (the float graph input)."""
    h, w = padded_size(rgb.shape[0], rgb.shape[1], multiple)
    return hwc_to_nchw_float(pad_to(rgb, h, w))


def nchw_rgb_to_bgr_batch(out: np.ndarray) -> np.ndarray:
    """float NCHW RGB -> uint8 NHWC BGR, rounded and clipped."""
    y = np.clip(out.transpose(0, 2, 3, 1)[..., ::-1], 0.0, 1.0)
    y *= 255.0
    y += 0.5
    return y.astype(np.uint8)
