"""DerainEngine: per-frame deraining of HxWx3 uint8 BGR frames (OpenCV order) on any backend."""
from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, overload

import numpy as np

from drn_edge.checks import missing
from drn_edge.errors import EngineError, FrameTimeout, ImageError, InferenceError
from drn_edge.imageio import to_uint8
from drn_edge.runtime import frames as F
from drn_edge.runtime.backend import Backend
from drn_edge.runtime.deadline import Deadline
from drn_edge.runtime.frame_policy import ENGINE_ON_ERROR, as_inference_error, check_choice
from drn_edge.runtime.onnxruntime_backend import OnnxRuntimeBackend
from drn_edge.runtime.tensorrt_backend import TensorRTBackend
from drn_edge.sidecar import verify_artifact

__all__ = ["DerainEngine", "EngineStats", "FrameTimeout", "open_backend", "BACKENDS"]
log = logging.getLogger("drn_edge.runtime")
PASSTHROUGH_LOG_INTERVAL_S = 10.0  # after the first passthrough, at most one summary line per interval
FLOAT_OUTPUT_LIMIT = 1.5   # a float graph output above this is on the 0..255 scale, not [0, 1]
FLOAT_RANGE_CHECKS = 8     # batches whose output range is looked at
PROBE_SIZE = 16

BACKENDS = ("auto", "tensorrt", "onnxruntime-trt", "onnxruntime-cuda", "onnxruntime-cpu")


@dataclass(frozen=True)
class FrameMeta:
    """What the engine carries from pre- to post-processing of one batch: the frames' size, whether they
    were letterboxed into a fixed-size engine, and each frame's dtype (outputs come back in it)."""

    height: int
    width: int
    needs_resize: bool
    dtypes: tuple


class GraphInput(NamedTuple):
    """A batch in the graph's own input format and what finish() needs to undo padding/resizing."""

    batch: np.ndarray
    meta: FrameMeta


class GraphOutput(NamedTuple):
    """The graph's output for a GraphInput, and that input's meta (what finish() takes)."""

    output: np.ndarray
    meta: FrameMeta


@dataclass
class EngineStats:
    frames: int = 0
    passthrough: int = 0          # frames returned unchanged because inference failed or timed out
    timeouts: int = 0             # of which: over timeout_ms
    errors: list[str] = field(default_factory=list)  # the last few messages, for logs


def open_backend(path: str | os.PathLike, backend: str = "auto", threads: int | None = None,
                 use_cuda_graph: bool = False, strict: bool = False) -> Backend:
    """Pick and load the backend for an engine file (.plan/.engine: TensorRT; .onnx: ONNX Runtime)."""
    path = Path(path)
    if backend not in BACKENDS:
        raise EngineError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if not path.is_file():
        raise EngineError(f"engine file '{path}' {missing(path)}; build one with drn-export")
    suffix = path.suffix.lower()
    if suffix in (".plan", ".engine", ".trt"):
        if backend not in ("auto", "tensorrt"):
            raise EngineError(f"'{path}' is a TensorRT plan; it runs only with backend='tensorrt' (or 'auto')")

        return TensorRTBackend(path, use_cuda_graph=use_cuda_graph)
    if suffix == ".onnx":
        if backend == "tensorrt":
            raise EngineError(f"'{path}' is an ONNX file; build a plan with drn-export --backend tensorrt, "
                              "or run it with backend='onnxruntime-trt'")
        if verify_artifact(path, required=strict) is None:  # a sidecar, when present, must match
            warnings.warn(f"'{path}' has no sidecar '{path.name}.json': nothing proves where this model came from or "
                          "that it is unmodified. Keep drn-export's sidecar beside it (strict=True makes this an error)",
                          UserWarning, stacklevel=3)

        return OnnxRuntimeBackend(path, backend, threads)
    raise EngineError(f"'{path}': unknown engine type '{suffix}'; expected .plan (TensorRT) or .onnx")


def _letterbox_size(h: int, w: int, th: int, tw: int) -> tuple[int, int]:
    """The largest h x w-shaped size that fits th x tw."""
    scale = min(th / h, tw / w)
    return max(1, min(th, round(h * scale))), max(1, min(tw, round(w * scale)))


class DerainEngine:
    """Derain frames with a compiled DRN.

    engine = DerainEngine("drn.int8.onnx"); clean = engine(frame)  # HxWx3 uint8 BGR in, same out
    engine(frames) takes a list (batched where sizes match and the engine allows).
    color="rgb" for RGB pipelines. float32 frames in [0, 1] are accepted and returned as float32.
    Frames of any size are reflect-padded to a multiple of 8 and cropped back; an engine built for
    one size refuses others unless resize=True (letterboxed: aspect ratio kept). on_error="passthrough" returns the input frame when
    inference fails or takes longer than timeout_ms (counted in .stats): in a vehicle a rainy
    frame beats a frozen camera.
    Thread-safe: ONNX Runtime sessions are shared, TensorRT gets one context per thread.

    Passthrough covers per-frame failures only (a backend error, non-finite or misshapen output, a
    timeout); setup errors (a frame size the engine cannot take, a closed engine, a bad frame) always
    raise. Each passthrough is logged on the "drn_edge.runtime" logger: the first at once, then a
    summary at most every 10 s. Frames over max_pixels are refused before any memory is spent.
    """

    def __init__(self, path: str | os.PathLike, backend: str = "auto", color: str = "bgr", resize: bool = False,
                 on_error: str = "raise", threads: int | None = None, use_cuda_graph: bool = False,
                 max_batch: int = 8, timeout_ms: float | None = None, strict: bool = False,
                 max_pixels: int | None = F.DEFAULT_MAX_PIXELS):
        if color not in ("bgr", "rgb"):
            raise EngineError(f"color must be 'bgr' or 'rgb', got {color!r}")
        check_choice(on_error, ENGINE_ON_ERROR, "on_error")
        self._deadline = Deadline(timeout_ms)  # validates timeout_ms
        self.timeout_ms = self._deadline.timeout_ms
        self.probe_ms: float | None = None  # one frame's time at load, measured when timeout_ms is set
        if max_pixels is not None and (not isinstance(max_pixels, int) or max_pixels < PROBE_SIZE ** 2):
            raise EngineError(f"max_pixels must be an integer >= {PROBE_SIZE ** 2} (or None for no limit), got {max_pixels!r}")
        if not isinstance(max_batch, int) or max_batch < 1:
            raise EngineError(f"max_batch must be a positive integer, got {max_batch!r}")
        self.path = Path(path)
        self.color, self.resize, self.on_error, self.max_pixels = color, resize, on_error, max_pixels
        self._backend: Backend | None = open_backend(path, backend, threads, use_cuda_graph, strict)
        self.io = self._backend.io
        self.max_batch = max(1, min(max_batch, self.io.max_batch or max_batch))
        self.stats = EngineStats()
        self._stats_lock = threading.Lock()
        self._last_log = 0.0
        self._range_checks_left = FLOAT_RANGE_CHECKS
        self._unlogged = 0
        try:
            self._probe()
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ lifecycle
    @property
    def backend_name(self) -> str:
        return self._require().name

    def close(self) -> None:
        """Free the session / GPU memory, after cancelling and waiting (bounded) for abandoned calls. Safe to call twice."""
        self._deadline.close()
        if self._backend is not None:
            self._backend.close()
            self._backend = None

    def __enter__(self) -> DerainEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        if getattr(self, "_backend", None) is not None and "tensorrt" in getattr(self._backend, "name", ""):
            warnings.warn(f"DerainEngine('{self.path}') was never closed; use 'with DerainEngine(...)' or close()",
                          ResourceWarning, stacklevel=1)
            self.close()

    def _probe(self) -> None:
        """One tiny frame through the graph at load: a graph that changes the frame size or dtype is refused now."""
        h, w = (self.io.height, self.io.width) if self.io.height else (PROBE_SIZE, PROBE_SIZE)
        probe = self.io.grey_batch(1, h, w)
        shape = probe.shape
        try:
            out = self._backend.run(probe)
        except Exception as exc:
            raise EngineError(f"'{self.path}' fails on a {h}x{w} probe frame ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:200] if str(exc) else ''}); it is not a working DRN graph") from None
        try:
            self._check_output(out, shape)
        except InferenceError as exc:
            raise EngineError(f"'{self.path}' is not a usable DRN graph: {exc}") from None
        if self.timeout_ms is not None:
            self._warn_if_slower_than_timeout()

    def _warn_if_slower_than_timeout(self) -> None:
        """With timeout_ms, time one frame at the engine's size (360x640 for a dynamic one) and warn, once, at load,
        when it already takes longer: every frame would be passed through raw."""
        h, w = (self.io.height, self.io.width) if self.io.height else (360, 640)
        x = self.io.grey_batch(1, h, w)
        t0 = time.perf_counter()
        self._backend.run(x)
        ms = (time.perf_counter() - t0) * 1000.0
        self.probe_ms = ms
        if ms > self.timeout_ms:
            log.warning("DerainEngine('%s'): one %dx%d frame takes %.0f ms here, more than timeout_ms=%g: frames "
                        "will be passed through raw; raise timeout_ms (or use a faster engine)", self.path.name, h, w,
                        ms, self.timeout_ms)

    def _check_output(self, out, in_shape: tuple) -> np.ndarray:
        """The graph must return a frame batch of the input's shape (uint8 NHWC or float NCHW), all finite."""
        want_dtype = self.io.dtype
        if not isinstance(out, np.ndarray) or out.shape != tuple(in_shape) or out.dtype != want_dtype:
            got = f"{getattr(out, 'shape', None)} {getattr(out, 'dtype', type(out).__name__)}"
            raise InferenceError(f"graph output is {got}, expected {tuple(in_shape)} {np.dtype(want_dtype)}")
        if out.dtype != np.uint8 and not np.isfinite(out).all():
            raise InferenceError("graph output contains NaN or infinite values (damaged weights or numeric overflow)")
        return out

    def _require(self) -> Backend:
        if self._backend is None:
            raise EngineError(f"DerainEngine('{self.path}') is closed")
        return self._backend

    # ------------------------------------------------------------------ inference
    @overload
    def __call__(self, frames: np.ndarray) -> np.ndarray: ...
    @overload
    def __call__(self, frames: Sequence[np.ndarray]) -> list[np.ndarray]: ...

    def __call__(self, frames):
        if isinstance(frames, np.ndarray):
            return self._derain([frames])[0]
        if isinstance(frames, (list, tuple)):
            return self._derain(list(frames)) if frames else []
        raise ImageError(f"DerainEngine takes one HxWx3 numpy frame or a list of them, got {type(frames).__name__}")

    def derain_rgb(self, frames):
        """Like calling the engine, for RGB frames, whatever color= says."""
        flip = (lambda f: f[..., ::-1]) if self.color == "bgr" else (lambda f: f)
        if isinstance(frames, np.ndarray):
            return np.ascontiguousarray(flip(self(flip(frames))))
        return [np.ascontiguousarray(flip(o)) for o in self([flip(f) for f in frames])]

    def rain_layer(self, frame: np.ndarray) -> np.ndarray:
        """The removed rain (input - output) as float32 HxWx3 in [0, 1] units, in the frame's channel order."""
        out = self(frame)
        scale = 255.0 if frame.dtype == np.uint8 else 1.0
        return (frame.astype(np.float32) - out.astype(np.float32)) / np.float32(scale)

    def _derain(self, frames: list) -> list[np.ndarray]:
        self._require()
        checked = [F.check_frame(f, i if len(frames) > 1 else None, self.max_pixels) for i, f in enumerate(frames)]
        outputs: list[np.ndarray | None] = [None] * len(checked)
        # Group same-size frames into batches; each group runs as one (or several max_batch) calls.
        groups: dict[tuple[int, int], list[int]] = {}
        for i, f in enumerate(checked):
            groups.setdefault(f.shape[:2], []).append(i)
        for (h, w), idxs in groups.items():
            target = self.target_size(h, w)  # a size the engine cannot take is a setup error: it always raises
            for start in range(0, len(idxs), self.max_batch):
                chunk = idxs[start : start + self.max_batch]
                try:
                    results = self._run_with_deadline([checked[i] for i in chunk], target)
                except InferenceError as exc:
                    if self.on_error != "passthrough":
                        raise
                    results = self._passthrough([checked[i] for i in chunk], exc)
                except EngineError:
                    raise
                except Exception as exc:  # a backend failure mid-drive: optionally keep the camera alive
                    if self.on_error != "passthrough":
                        raise as_inference_error(exc) from exc
                    results = self._passthrough([checked[i] for i in chunk], exc)
                for i, r in zip(chunk, results):
                    outputs[i] = r
        with self._stats_lock:
            self.stats.frames += len(checked)
        return outputs  # type: ignore[return-value]

    def _run_with_deadline(self, frames: list[np.ndarray], target: tuple[int, int, bool]) -> list[np.ndarray]:
        return self._deadline.run(self._run_same_size, frames, target)

    def _passthrough(self, frames: list[np.ndarray], exc: BaseException) -> list[np.ndarray]:
        message = f"{type(exc).__name__}: {exc}"
        with self._stats_lock:
            first = self.stats.passthrough == 0
            self.stats.passthrough += len(frames)
            if isinstance(exc, FrameTimeout):
                self.stats.timeouts += len(frames)
            self.stats.errors = (self.stats.errors + [message])[-10:]
            self._unlogged += len(frames)
            now = time.monotonic()
            due = first or now - self._last_log >= PASSTHROUGH_LOG_INTERVAL_S
            if due:
                count, self._unlogged, self._last_log = self._unlogged, 0, now
        if due:
            if first:
                log.warning("DerainEngine('%s'): inference failed, returning the raw frame (passthrough): %s",
                            self.path.name, message)
            else:
                log.warning("DerainEngine('%s'): %d frame(s) passed through since the last report (%d in all); last "
                            "error: %s", self.path.name, count, self.stats.passthrough, message)
        return [f.copy() for f in frames]

    def target_size(self, h: int, w: int) -> tuple[int, int, bool]:
        """(engine height, engine width, needs_resize) for a frame of h x w."""
        io = self.io
        if io.height is None:
            return (*F.padded_size(h, w), False)
        if F.padded_size(h, w) == (io.height, io.width):
            return io.height, io.width, False
        if self.resize:
            return io.height, io.width, True
        ph, pw = F.padded_size(h, w)
        raise EngineError(
            f"this engine was built for {io.height}x{io.width} frames (HxW) but got {h}x{w}; "
            f"export an engine for {h}x{w} (drn-export --size {ph}x{pw}), "
            "or letterbox frames into the engine size (drn-derain --resize; resize=True in Python)"
        )

    def graph_input(self, frames: list[np.ndarray], target: tuple[int, int, bool] | None = None) -> GraphInput:
        """Frames (same size) -> the batch the graph takes, plus what finish() needs to undo padding/resizing.
        `target`: target_size() of these frames when the caller already has it (it runs once per batch)."""
        h, w = frames[0].shape[:2]
        th, tw, needs_resize = target or self.target_size(h, w)
        prepared = []
        for f in frames:
            f = to_uint8(f)
            if self.color == "rgb":
                f = f[..., ::-1]
            if needs_resize:  # letterbox: keep the aspect ratio, fill the rest by reflection
                import cv2

                nh, nw = _letterbox_size(h, w, th, tw)
                f = cv2.resize(f, (nw, nh), interpolation=cv2.INTER_AREA if nh <= h else cv2.INTER_LINEAR)
            prepared.append(F.pad_to(f, th, tw))
        batch = np.stack(prepared)
        batch = np.ascontiguousarray(batch) if self.io.uint8_bgr else F.bgr_batch_to_nchw_rgb(batch)
        return GraphInput(batch, FrameMeta(h, w, needs_resize, tuple(f.dtype for f in frames)))

    @property
    def last_compute_ms(self) -> float | None:
        """Device time of this thread's last graph run, where the backend can measure it (TensorRT: CUDA events)."""
        return self._require().last_compute_ms

    @property
    def last_split_ms(self) -> dict[str, float] | None:
        """Host-to-device / compute / device-to-host ms of this thread's last run, where measurable."""
        return getattr(self._require(), "last_split_ms", None)

    def run_graph(self, batch: np.ndarray) -> np.ndarray:
        """The backend alone on a prepared batch (what drn-bench times as engine compute), output checked."""
        return self._check_output(self._require().run(batch), batch.shape)

    def finish(self, out: np.ndarray, meta: FrameMeta) -> list[np.ndarray]:
        h, w, needs_resize = meta.height, meta.width, meta.needs_resize
        if not self.io.uint8_bgr:
            self._check_float_range(out)
            out = F.nchw_rgb_to_bgr_batch(out)
        results = []
        for o, dtype in zip(out, meta.dtypes):  # each frame comes back in its own dtype
            if needs_resize:
                import cv2

                nh, nw = _letterbox_size(h, w, *o.shape[:2])
                o = cv2.resize(o[:nh, :nw], (w, h), interpolation=cv2.INTER_LINEAR)
            else:
                o = o[:h, :w]
            if self.color == "rgb":
                o = o[..., ::-1]
            results.append(F.from_uint8(np.ascontiguousarray(o), dtype))
        return results

    def _check_float_range(self, out: np.ndarray) -> None:
        """A float graph returns [0, 1]; one that returns 0..255 would come back clipped to white in silence. The
        first batches are looked at (a graph that does it, does it on every frame), then the check costs nothing."""
        if self._range_checks_left <= 0:
            return
        self._range_checks_left -= 1
        top = float(np.max(out)) if out.size else 0.0
        if top > FLOAT_OUTPUT_LIMIT:
            self._range_checks_left = 0
            log.warning("DerainEngine('%s'): the float graph returned values up to %.1f, but its output must lie in "
                        "[0, 1]; they are clipped, so the frames come back near white. Was it exported for 0..255 "
                        "input? Export with drn-export (float graphs take and return [0, 1])", self.path, top)

    def _run_same_size(self, frames: list[np.ndarray], target: tuple[int, int, bool]) -> list[np.ndarray]:
        batch, meta = self.graph_input(frames, target)
        return self.finish(self.run_graph(batch), meta)
