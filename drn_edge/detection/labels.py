"""Ground-truth boxes for the detection check: a COCO JSON file or a folder of YOLO txt files."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from drn_edge.detection.detector import Detections, DetectorError

__all__ = ["load_labels"]


def load_labels(path: str | os.PathLike, frame_sizes: dict[str, tuple[int, int]]) -> dict[str, Detections]:
    """name (file stem) -> Detections in pixels, for the frames named in `frame_sizes` (stem -> (h, w)).

    COCO JSON: ``images`` (file_name, id) and ``annotations`` (image_id, category_id, bbox x, y, w, h);
    category ids are used as class indices as they are. YOLO: one STEM.txt per frame, lines
    ``class cx cy w h`` normalised to [0, 1]. A frame without a label file has no objects.
    """
    p = Path(path)
    if p.is_file():
        labels, named = _coco(p, frame_sizes)
        return _matched(p, labels, named, frame_sizes)
    if p.is_dir():
        return _matched(p, _yolo(p, frame_sizes), {f.stem for f in p.glob("*.txt")}, frame_sizes)
    raise DetectorError(f"--labels '{p}' does not exist (a COCO JSON file or a folder of YOLO .txt files)")


def _matched(p: Path, labels: dict[str, Detections], named: set[str], frame_sizes) -> dict[str, Detections]:
    """The labels, unless they name none of the frames: then every AP would be 'n/a' with no word of why."""
    if frame_sizes and not named & set(frame_sizes):
        example = f" (e.g. '{sorted(named)[0]}')" if named else ""
        raise DetectorError(f"--labels '{p}' names none of the {len(frame_sizes)} frames (e.g. '{sorted(frame_sizes)[0]}'); "
                            f"its entries{example} are matched to frames by file name without the suffix: label "
                            "the --detect-frames images themselves")
    return labels


def _coco(p: Path, frame_sizes) -> tuple[dict[str, Detections], set[str]]:
    """The frames' Detections, and every image name the file holds (to tell labels of other frames apart)."""
    try:
        data = json.loads(p.read_text())
        images = {int(im["id"]): Path(im["file_name"]).stem for im in data["images"]}
        anns = data["annotations"]
    except (ValueError, KeyError, TypeError) as exc:
        raise DetectorError(f"--labels '{p}' is not a COCO detection JSON (images, annotations): {exc}") from None
    per: dict[str, list] = {name: [] for name in frame_sizes}
    for a in anns:
        name = images.get(int(a.get("image_id", -1)))
        if name in per:
            x, y, w, h = (float(v) for v in a["bbox"])
            per[name].append((x, y, x + w, y + h, int(a["category_id"])))
    return {n: _dets(v).checked(f"--labels '{p}', image {n}") for n, v in per.items()}, set(images.values())


def _yolo(folder: Path, frame_sizes) -> dict[str, Detections]:
    out = {}
    for name, (h, w) in frame_sizes.items():
        f = folder / f"{name}.txt"
        rows = []
        if f.is_file():
            for i, line in enumerate(f.read_text().splitlines()):
                if not line.strip():
                    continue
                try:
                    c, cx, cy, bw, bh = line.split()[:5]
                    cx, cy, bw, bh = float(cx) * w, float(cy) * h, float(bw) * w, float(bh) * h
                    rows.append((cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2, int(c)))
                except ValueError:
                    raise DetectorError(f"{f}:{i + 1}: a YOLO label line is 'class cx cy w h', got {line!r}") from None
        out[name] = _dets(rows).checked(f"--labels '{f}'")
    return out


def _dets(rows) -> Detections:
    if not rows:
        return Detections.empty()
    a = np.asarray(rows, np.float64)
    return Detections(a[:, :4].astype(np.float32), np.ones(len(a), np.float32), a[:, 4].astype(np.int64))
