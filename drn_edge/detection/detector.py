"""A user's object detector, run on ONNX Runtime: boxes, scores and classes in frame coordinates.

Torch-free. Layouts (detected from the output shapes, or named with ``layout=``):

- ``yolox``: one output [1, N, 5 + C], N = the grid cells of strides 8/16/32 (raw box
  regressions, objectness and class scores after sigmoid), as YOLOX's own ONNX export writes it.
  Pre-processing: BGR 0-255, letterbox into the top-left corner, padding 114.
- ``yolov5``: one output [1, N, 5 + C] with decoded boxes (cx, cy, w, h in input pixels),
  objectness and class scores; N = 3 anchors per grid cell. RGB / 255, centred letterbox, 114.
- ``yolov8``: one output [1, 4 + C, N] (boxes then class scores, no objectness). As yolov5.
- ``nms``: NMS in the graph: outputs for boxes [1, K, 4] (x1, y1, x2, y2 in input pixels), scores
  [1, K] and classes [1, K], found by name (boxes/scores/classes or labels), an optional count
  output (num_dets) first. As yolov5.

Anything else is an error naming the shapes found. Any callable ``frame_rgb -> Detections``
is a detector too (``CallableDetector``), for detectors that are not ONNX.
"""
from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from drn_edge.checks import missing
from drn_edge.errors import DrnEdgeError
from drn_edge.runtime.onnxruntime_backend import session_options

__all__ = ["Detections", "Detector", "OnnxDetector", "CallableDetector", "LAYOUTS", "ROAD_CLASSES", "load_class_names",
           "as_detector", "DetectorError"]

LAYOUTS = ("yolox", "yolov5", "yolov8", "nms")
STRIDES = (8, 16, 32)
# COCO names of the classes a road camera cares about (per-class rows are reported for these).
ROAD_CLASSES = ("person", "bicycle", "car", "motorcycle", "motorbike", "bus", "truck", "traffic light", "stop sign")


class DetectorError(DrnEdgeError):
    """The detector file, its layout or its class names cannot be used."""


@dataclass(frozen=True)
class Detections:
    """Boxes [K, 4] as x1, y1, x2, y2 in frame pixels; scores [K]; integer classes [K]."""

    boxes: np.ndarray
    scores: np.ndarray
    classes: np.ndarray

    @staticmethod
    def empty() -> Detections:
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64))

    def above(self, threshold: float) -> Detections:
        keep = self.scores >= threshold
        return Detections(self.boxes[keep], self.scores[keep], self.classes[keep])

    def __len__(self) -> int:
        return len(self.scores)

    def checked(self, what: str) -> Detections:
        """Itself, if every box is finite with x1 <= x2 and y1 <= y2 and every score finite; else DetectorError.
        NaN boxes scored AP 1.0 and inverted label boxes were accepted: AP from such data would be confident
        and wrong."""
        boxes, scores = np.asarray(self.boxes, np.float64), np.asarray(self.scores, np.float64)
        bad_value = ~np.isfinite(boxes).all(axis=1) | ~np.isfinite(scores) if len(scores) else np.zeros(0, bool)
        inverted = (boxes[:, 2] < boxes[:, 0]) | (boxes[:, 3] < boxes[:, 1]) if len(boxes) else np.zeros(0, bool)
        if bad_value.any():
            raise DetectorError(f"{what}: {int(bad_value.sum())} of {len(scores)} boxes have NaN or infinite "
                                "coordinates or scores; check the detector's output layout (--detector-layout)")
        if inverted.any():
            raise DetectorError(f"{what}: {int(inverted.sum())} of {len(scores)} boxes end before they start "
                                "(x2 < x1 or y2 < y1); boxes are x1, y1, x2, y2 in pixels")
        return self


class Detector(Protocol):
    """What the detection check needs: a callable from an HxWx3 uint8 RGB frame to Detections."""

    def __call__(self, frame_rgb: np.ndarray) -> Detections: ...


@dataclass
class CallableDetector:
    """Wraps a function returning (boxes, scores, classes) arrays as a Detector."""

    fn: Callable[[np.ndarray], tuple]
    class_names: tuple[str, ...] = ()

    def __call__(self, frame_rgb: np.ndarray) -> Detections:
        out = self.fn(frame_rgb)
        if isinstance(out, Detections):
            return out
        boxes, scores, classes = (np.asarray(a) for a in out)
        return Detections(boxes.reshape(-1, 4).astype(np.float32), scores.reshape(-1).astype(np.float32),
                          classes.reshape(-1).astype(np.int64))


def load_class_names(path: str | os.PathLike) -> tuple[str, ...]:
    """One class name per line (blank lines ignored)."""
    p = Path(path)
    if not p.is_file():
        raise DetectorError(f"class names file '{p}' {missing(p)} (one name per line)")
    names = tuple(line.strip() for line in p.read_text(errors="replace").splitlines() if line.strip())
    if not names:
        raise DetectorError(f"class names file '{p}' is empty (one name per line)")
    return names


def _letterbox(rgb: np.ndarray, h: int, w: int, centred: bool) -> tuple[np.ndarray, float, int, int]:
    import cv2

    r = min(h / rgb.shape[0], w / rgb.shape[1])
    nh, nw = max(1, int(round(rgb.shape[0] * r))), max(1, int(round(rgb.shape[1] * r)))
    canvas = np.full((h, w, 3), 114, np.uint8)
    top, left = ((h - nh) // 2, (w - nw) // 2) if centred else (0, 0)
    canvas[top: top + nh, left: left + nw] = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_LINEAR)
    return canvas, r, top, left


def _nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou: float) -> np.ndarray:
    """Class-aware NMS (OpenCV's, boxes offset per class so classes never suppress each other)."""
    import cv2

    if not len(scores):
        return np.zeros(0, np.int64)
    offset = classes[:, None].astype(np.float32) * 8192.0
    b = boxes + offset
    xywh = np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], axis=1)
    keep = cv2.dnn.NMSBoxes(xywh.tolist(), scores.tolist(), 0.0, iou)
    return np.asarray(keep, np.int64).reshape(-1)


MIN_DETECTOR_SIDE, MAX_DETECTOR_SIDE = 32, 4096  # a declared input outside this is a broken or hostile graph


@dataclass
class OnnxDetector:
    """An ONNX object detector on ONNX Runtime's CPU (or a given) provider."""

    path: str | os.PathLike
    layout: str | None = None            # None: detected from the output shapes
    class_names: tuple[str, ...] = ()
    score_threshold: float = 0.01        # low: the AP needs the whole precision-recall curve
    iou_threshold: float = 0.65
    providers: tuple[str, ...] = ("CPUExecutionProvider",)
    threads: int | None = None
    _session: object = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        import onnxruntime as ort

        p = Path(self.path)
        if not p.is_file():
            raise DetectorError(f"detector '{p}' {missing(p)}")

        opts = session_options(self.threads)
        try:
            self._session = ort.InferenceSession(str(p), opts, providers=list(self.providers))
        except Exception as exc:  # noqa: BLE001 - ORT raises many types for a bad file
            raise DetectorError(f"ONNX Runtime cannot load detector '{p}': {str(exc).splitlines()[0][:200]}") from None
        inp = self._session.get_inputs()
        if len(inp) != 1 or len(inp[0].shape) != 4:
            raise DetectorError(f"detector '{p}' must take one NCHW image input, found "
                                f"{[(i.name, i.shape) for i in inp]}")
        self._input = inp[0].name
        shape = inp[0].shape
        self.input_hw = tuple(int(v) if isinstance(v, int) else 640 for v in shape[2:])
        if not all(MIN_DETECTOR_SIDE <= v <= MAX_DETECTOR_SIDE for v in self.input_hw):
            raise DetectorError(f"detector '{p}' declares an input of {self.input_hw[0]}x{self.input_hw[1]} (HxW); a "
                                f"detector's input sides must lie in {MIN_DETECTOR_SIDE}..{MAX_DETECTOR_SIDE} "
                                "(each frame is letterboxed to that size): export it at a usual size such as 640x640")
        self._outputs = [(o.name, o.shape) for o in self._session.get_outputs()]
        detected = self._detect_layout()
        if self.layout is None:
            self.layout = detected
        elif self.layout not in LAYOUTS:
            raise DetectorError(f"detector layout must be one of {', '.join(LAYOUTS)}, got {self.layout!r}")
        elif detected is not None and detected != self.layout:
            warnings.warn(f"--detector-layout {self.layout} was given, but the outputs of '{p.name}' "
                          f"({', '.join(f'{n} {list(s)}' for n, s in self._outputs)}) look like the {detected} layout; "
                          f"decoding as {self.layout}, as asked (if boxes come out wrong, drop --detector-layout)",
                          stacklevel=2)

    def _detect_layout(self) -> str | None:
        h, w = self.input_hw
        cells = sum((h // s) * (w // s) for s in STRIDES)
        found = ", ".join(f"{n} {list(s)}" for n, s in self._outputs)
        if len(self._outputs) >= 3:
            return "nms"
        if len(self._outputs) == 1 and len(self._outputs[0][1]) == 3:
            _, a, b = self._outputs[0][1]
            if isinstance(a, int) and isinstance(b, int):
                if b >= 6 and a == cells:
                    return "yolox"
                if b >= 6 and a == 3 * cells:
                    return "yolov5"
                if a >= 5 and b in (cells, 3 * cells) or (a < b and a >= 5):
                    return "yolov8"
        if self.layout is None:
            raise DetectorError(f"cannot tell the layout of detector '{self.path}' from its outputs ({found}); "
                                f"name it with --detector-layout ({'/'.join(LAYOUTS)})")
        return None

    def _preprocess(self, rgb: np.ndarray) -> tuple[np.ndarray, float, int, int]:
        h, w = self.input_hw
        centred = self.layout != "yolox"
        canvas, r, top, left = _letterbox(rgb, h, w, centred)
        if self.layout == "yolox":
            x = canvas[..., ::-1].transpose(2, 0, 1)[None].astype(np.float32)  # BGR, 0-255
        else:
            x = (canvas.transpose(2, 0, 1)[None].astype(np.float32) / 255.0)
        return np.ascontiguousarray(x), r, top, left

    def __call__(self, frame_rgb: np.ndarray) -> Detections:
        x, r, top, left = self._preprocess(frame_rgb)
        outs = self._session.run(None, {self._input: x})
        boxes, scores, classes = getattr(self, f"_decode_{self.layout}")(outs)
        bad = len(scores) - int(np.count_nonzero(np.isfinite(scores)))
        if bad:  # a NaN score fails every threshold: without this the frame would read as "nothing detected"
            raise DetectorError(f"the detector gave {bad} NaN or infinite scores of {len(scores)} on a frame: its output "
                                f"is not usable (a broken model, or not the {self.layout!r} layout: check "
                                "--detector-layout); no AP was computed")
        if self.layout != "nms":
            keep = scores >= self.score_threshold
            boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
            keep = _nms(boxes, scores, classes, self.iou_threshold)[:300]
            boxes, scores, classes = boxes[keep], scores[keep], classes[keep]
        boxes = (boxes - np.array([left, top, left, top], np.float32)) / r
        fh, fw = frame_rgb.shape[:2]
        boxes = np.clip(boxes, 0, [fw, fh, fw, fh]).astype(np.float32)
        return Detections(boxes, scores.astype(np.float32), classes.astype(np.int64))

    # ---------------------------------------------------------------- layouts
    @staticmethod
    def _xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
        return np.concatenate([b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2], axis=1)

    def _decode_yolox(self, outs):
        p = outs[0][0]
        h, w = self.input_hw
        grids, strides = [], []
        for s in STRIDES:
            gy, gx = np.meshgrid(np.arange(h // s), np.arange(w // s), indexing="ij")
            grids.append(np.stack([gx, gy], -1).reshape(-1, 2))
            strides.append(np.full((len(grids[-1]), 1), s))
        grid, stride = np.concatenate(grids).astype(np.float32), np.concatenate(strides).astype(np.float32)
        xy = (p[:, :2] + grid) * stride
        wh = np.exp(np.clip(p[:, 2:4], -10, 10)) * stride
        cls = p[:, 5:] * p[:, 4:5]
        return self._xywh_to_xyxy(np.concatenate([xy, wh], 1)), cls.max(1), cls.argmax(1)

    def _decode_yolov5(self, outs):
        p = outs[0][0]
        cls = p[:, 5:] * p[:, 4:5]
        return self._xywh_to_xyxy(p[:, :4]), cls.max(1), cls.argmax(1)

    def _decode_yolov8(self, outs):
        p = outs[0][0].T
        cls = p[:, 4:]
        return self._xywh_to_xyxy(p[:, :4]), cls.max(1), cls.argmax(1)

    def _decode_nms(self, outs):
        named = {n.lower(): o for (n, _), o in zip(self._outputs, outs)}

        def pick(*keys):
            for k in keys:
                for n, o in named.items():
                    if k in n:
                        return o
            return None

        boxes, scores, classes = pick("box"), pick("score"), pick("class", "label")
        if boxes is None or scores is None or classes is None:
            raise DetectorError(f"an NMS detector needs outputs named boxes, scores and classes (or labels); found "
                                f"{', '.join(n for n, _ in self._outputs)}")
        count = pick("num")
        boxes, scores, classes = boxes.reshape(-1, 4), scores.reshape(-1), classes.reshape(-1)
        if count is not None:
            k = int(np.asarray(count).reshape(-1)[0])
            boxes, scores, classes = boxes[:k], scores[:k], classes[:k]
        return boxes.astype(np.float32), scores.astype(np.float32), classes.astype(np.int64)


def as_detector(obj, layout: str | None = None, class_names: tuple[str, ...] = (), threads: int | None = None):
    """A path to an ONNX detector, a Detector, or any callable returning (boxes, scores, classes)."""
    if isinstance(obj, (str, os.PathLike)):
        return OnnxDetector(obj, layout, class_names, threads=threads)
    if isinstance(obj, (OnnxDetector, CallableDetector)):
        return obj
    if callable(obj):
        return CallableDetector(obj, class_names)
    raise DetectorError(f"a detector is an ONNX path or a callable returning boxes, got {type(obj).__name__}")
