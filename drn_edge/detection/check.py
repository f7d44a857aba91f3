"""Does deraining help the detector after it? COCO AP of detections on rainy vs derained frames.

The same frames under the same seeded rain (drn_edge.evaluation.eval_frames) go through the detector three
ways: clean, rainy, and derained by each engine. Without labels the ground truth is the detector's
own boxes on the clean frame above PSEUDO_GT_SCORE (the question is "does the derainer give the
detector back what rain took", not "is the detector right"); with labels it is the labels. AP comes
from pycocotools (COCOeval, bbox): AP@0.5 and AP@[.5:.95], per class for the road classes. For a
reduced-precision engine the AP of its detections against the reference engine's detections says
whether INT8 still finds what FP32 found. Torch-free.
"""
from __future__ import annotations

import contextlib
import io
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from drn_edge.detection.detector import ROAD_CLASSES, Detections, DetectorError
from drn_edge.evaluation.eval_frames import evenly_spaced, heldout_sources, rain_frames
from drn_edge.imageio import list_images, read_rgb
from drn_edge.progress import progress_bar

__all__ = ["PSEUDO_GT_SCORE", "coco_ap", "detection_check", "detection_frames", "format_detection",
           "detection_markdown"]

PSEUDO_GT_SCORE = 0.5  # clean-frame detections at or above this score are the pseudo ground truth
DeRain = Callable[[np.ndarray], np.ndarray]


def _coco():
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:
        raise DetectorError("the detection check needs pycocotools: pip install 'drn-edge[bench]'") from None
    return COCO, COCOeval


def coco_ap(truth: Sequence[Detections], found: Sequence[Detections], class_names: Sequence[str] = ()) -> dict:
    """COCO bbox AP of `found` against `truth` (one Detections per frame): ap50, ap, per-class ap50, boxes."""
    COCO, COCOeval = _coco()
    if len(truth) != len(found):
        raise ValueError("coco_ap needs one set of detections per frame on both sides")
    cats = sorted({int(c) for t in truth for c in t.classes} | {int(c) for f in found for c in f.classes})
    n_truth = sum(len(t) for t in truth)
    if n_truth == 0:
        return {"ap50": None, "ap": None, "per_class": {}, "truth_boxes": 0}
    anns, aid = [], 1
    for i, t in enumerate(truth):
        for b, c in zip(t.boxes, t.classes):
            w, h = float(b[2] - b[0]), float(b[3] - b[1])
            anns.append({"id": aid, "image_id": i + 1, "category_id": int(c), "bbox": [float(b[0]), float(b[1]), w, h],
                         "area": max(w * h, 1e-6), "iscrowd": 0})
            aid += 1
    dets = [{"image_id": i + 1, "category_id": int(c), "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0]),
                                                                  float(b[3] - b[1])], "score": float(s)}
            for i, f in enumerate(found) for b, s, c in zip(f.boxes, f.scores, f.classes)]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = {"images": [{"id": i + 1} for i in range(len(truth))], "annotations": anns,
                      "categories": [{"id": c} for c in cats]}
        gt.createIndex()
        if not dets:
            return {"ap50": 0.0, "ap": 0.0, "per_class": {_name(c, class_names): 0.0 for c in _present(truth)},
                    "truth_boxes": n_truth}
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    precision = ev.eval["precision"]  # [IoU thresholds, recall, class, area, max dets]
    per_class = {}
    for k, c in enumerate(ev.params.catIds):
        if c in _present(truth):
            p = precision[0, :, k, 0, -1]
            per_class[_name(c, class_names)] = float(p[p > -1].mean()) if (p > -1).any() else 0.0
    return {"ap50": float(max(ev.stats[1], 0.0)), "ap": float(max(ev.stats[0], 0.0)), "per_class": per_class,
            "truth_boxes": n_truth}


def _present(truth: Sequence[Detections]) -> set[int]:
    return {int(c) for t in truth for c in t.classes}


def _name(c: int, class_names: Sequence[str]) -> str:
    return class_names[c] if 0 <= c < len(class_names) else str(c)


def detection_check(detector, frames: Sequence, derainers: Mapping[str, DeRain], reference: str | None = None,
                    labels: Mapping[str, Detections] | None = None, class_names: Sequence[str] = (),
                    pseudo_gt_score: float = PSEUDO_GT_SCORE, progress: bool = False) -> dict:
    """AP per rain level (frame.group) of rainy and of each derainer's output; see the module docstring.

    `frames`: EvalFrames (rainy, clean, group = rain level). `labels`: name -> Detections, replacing
    the pseudo ground truth. `reference`: the derainer others are also compared with (FP32).
    """
    if not frames:
        raise DetectorError("no frames for the detection check")
    if reference is not None and reference not in derainers:
        raise ValueError(f"reference {reference!r} is not one of the derainers {list(derainers)}")
    clean_cache: dict[int, Detections] = {}
    levels: dict[str, dict[str, list]] = {}
    bar = progress_bar(total=len(frames) * (2 + len(derainers)), desc="detect", unit="run", leave=False, enabled=progress)
    for f in frames:
        key = id(f.clean)
        if key not in clean_cache:
            clean_cache[key] = detector(f.clean).checked(f"the detector on clean frame {f.name}")
        bar.update(1)
        if labels is not None:
            if f.name not in labels:
                raise DetectorError(f"no labels for frame '{f.name}'")
            truth = labels[f.name]
        else:
            truth = clean_cache[key].above(pseudo_gt_score)
        row = levels.setdefault(f.group, {"truth": [], "clean": [], "rainy": [], **{n: [] for n in derainers}})
        row["truth"].append(truth)
        row["clean"].append(clean_cache[key])
        row["rainy"].append(detector(f.rainy).checked(f"the detector on rainy frame {f.name}"))
        bar.update(1)
        for name, derain in derainers.items():
            row[name].append(detector(derain(f.rainy)).checked(f"the detector on frame {f.name} derained by {name}"))
            bar.update(1)
    bar.close()
    report: dict = {"ground_truth": "labels" if labels is not None else
                    f"the detector's boxes on the clean frame with score >= {pseudo_gt_score}",
                    "frames": len({id(f.clean) for f in frames}), "reference": reference, "levels": {}}
    for level, row in levels.items():
        out: dict = {"truth_boxes": sum(len(t) for t in row["truth"])}
        if labels is not None:
            out["clean"] = coco_ap(row["truth"], row["clean"], class_names)
        out["rainy"] = coco_ap(row["truth"], row["rainy"], class_names)
        for name in derainers:
            r = coco_ap(row["truth"], row[name], class_names)
            if r["ap50"] is not None and out["rainy"]["ap50"] is not None:
                r["ap50_change"] = r["ap50"] - out["rainy"]["ap50"]
                r["ap_change"] = r["ap"] - out["rainy"]["ap"]
            if reference is not None and name != reference:
                ref_truth = [d.above(pseudo_gt_score) for d in row[reference]]
                r["ap50_vs_reference"] = coco_ap(ref_truth, row[name], class_names)["ap50"]
            out[name] = r
        report["levels"][level] = out
    return report


def detection_frames(folders: Sequence[str], size: tuple[int, int] | None, max_frames: int = 24) -> list:
    """Clean frames with objects (each folder, else the held-out photos), at most `max_frames` evenly
    spaced, under low/medium/high rain at `size` (None: native size, as labels need)."""
    if max_frames < 1:
        raise DetectorError(f"the detection check needs at least one frame, got max_frames={max_frames}")
    if not folders:
        return rain_frames(evenly_spaced(heldout_sources(), max_frames), size=size)

    # Names are made unique per folder (two folders' 'f0.png' shared one label size) and only the frames kept
    # are decoded (a whole folder was decoded before).
    files = [(Path(d).name, p) for d in folders for p in list_images(d)]
    many = len({p.stem for _, p in files}) < len(files)
    picked = evenly_spaced(files, max_frames)
    return rain_frames([(f"{d}/{p.stem}" if many else p.stem, read_rgb(p)) for d, p in picked], size=size)


def _fmt(v) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}"


def format_detection(report: dict, derainers: Sequence[str]) -> str:
    """Console table: AP@0.5 (and AP) per level, rainy vs each derainer, the change, per road class."""
    lines = [f"detection check: ground truth = {report['ground_truth']}; {report['frames']} frames",
             f"  {'level':<8}{'boxes':>6}  {'engine':<28}{'AP50':>7}{'AP':>7}{'vs rainy':>10}{'vs ref':>8}"]
    for level, row in report["levels"].items():
        names = (["clean"] if "clean" in row else []) + ["rainy"] + list(derainers)
        for name in names:
            r = row[name]
            change = f"{100 * r['ap50_change']:+.1f}" if "ap50_change" in r else ""
            vs_ref = _fmt(r["ap50_vs_reference"]) if "ap50_vs_reference" in r else ""
            lines.append(f"  {level:<8}{row['truth_boxes']:>6}  {name[-28:]:<28}{_fmt(r['ap50']):>7}{_fmt(r['ap']):>7}"
                         f"{change:>10}{vs_ref:>8}")
        road = [c for c in ROAD_CLASSES if c in row["rainy"]["per_class"]]
        if road:
            lines.append("           per class AP50: " + "; ".join(
                f"{c} " + "/".join(_fmt(row[n]["per_class"].get(c)) for n in ["rainy"] + list(derainers)) for c in road)
                + "  (rainy/" + "/".join(derainers) + ")")
    return "\n".join(lines)


def detection_markdown(report: dict, derainers: Sequence[str]) -> str:
    lines = [f"Ground truth: {report['ground_truth']}; {report['frames']} frames. AP in %, COCO bbox (pycocotools).", "",
             "| rain | boxes | engine | AP@0.5 | AP@[.5:.95] | AP@0.5 change vs rainy | AP@0.5 vs reference engine |",
             "|---|---:|---|---:|---:|---:|---:|"]
    for level, row in report["levels"].items():
        for name in (["clean"] if "clean" in row else []) + ["rainy"] + list(derainers):
            r = row[name]
            change = f"{100 * r['ap50_change']:+.1f}" if "ap50_change" in r else ""
            vs_ref = _fmt(r["ap50_vs_reference"]) if "ap50_vs_reference" in r else ""
            lines.append(f"| {level} | {row['truth_boxes']} | {name} | {_fmt(r['ap50'])} | {_fmt(r['ap'])} | {change} | "
                         f"{vs_ref} |")
    return "\n".join(lines) + "\n"
