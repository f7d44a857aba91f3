"""Boxes drawn on rainy | derained | clean frames: what the detector found, side by side."""
from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import numpy as np

from drn_edge.detection.detector import Detections
from drn_edge.imageio import labelled_grid, write_image

__all__ = ["draw_boxes", "detection_grid"]


def draw_boxes(rgb: np.ndarray, dets: Detections, class_names: Sequence[str] = (), score: float = 0.3) -> np.ndarray:
    import cv2

    img = np.ascontiguousarray(rgb[..., ::-1])  # BGR for OpenCV drawing
    for b, s, c in zip(dets.boxes, dets.scores, dets.classes):
        if s < score:
            continue
        p0, p1 = (int(b[0]), int(b[1])), (int(b[2]), int(b[3]))
        cv2.rectangle(img, p0, p1, (0, 255, 0), 2)
        label = f"{class_names[c] if 0 <= c < len(class_names) else c} {s:.2f}"
        cv2.putText(img, label, (p0[0], max(10, p0[1] - 3)), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 255, 0), 1, cv2.LINE_AA)
    return img[..., ::-1]


def detection_grid(path: str | os.PathLike, detector, frames: Sequence, derain: Callable, label: str,
                   class_names: Sequence[str] = (), max_frames: int = 4, tile_height: int = 240) -> int:
    """Write rainy | derained | clean with boxes, one row per frame (JPEG/PNG by suffix); returns rows written."""
    rows = [[(draw_boxes(img, detector(img), class_names), name)
             for img, name in ((f.rainy, f"rainy ({f.group})"), (derain(f.rainy), label), (f.clean, "clean"))]
            for f in list(frames)[:max_frames]]
    write_image(path, labelled_grid(rows, tile_height), jpeg_quality=85)
    return len(rows)
