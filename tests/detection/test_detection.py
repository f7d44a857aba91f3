"""The downstream detection check: a real COCO detector (YOLOX-nano from ../shared), layouts, labels, AP."""
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from drn_edge.detection.check import coco_ap, detection_check
from drn_edge.detection.detector import Detections, DetectorError, OnnxDetector, as_detector
from drn_edge.detection.labels import load_labels
from tests.conftest import SHARED

YOLOX = SHARED / "models" / "yolox_nano" / "yolox_nano.onnx"
CAMVID = SHARED / "data" / "road" / "research_only" / "camvid"

pytest.importorskip("pycocotools")


def _constant_detector(tmp_path, outputs: dict[str, np.ndarray], hw=(64, 64)) -> Path:
    """An ONNX 'detector' whose outputs are constants of the given shapes (the input is unused)."""
    nodes, outs = [], []
    for name, value in outputs.items():
        nodes.append(helper.make_node("Constant", [], [name], value=numpy_helper.from_array(value, name + "_v")))
        outs.append(helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(value.dtype), list(value.shape)))
    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, *hw])
    model = helper.make_model(helper.make_graph(nodes, "det", [inp], outs), opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "det.onnx"
    onnx.save(model, str(path))
    return path


def test_yolov8_layout_is_detected_and_boxes_come_back_in_frame_pixels(tmp_path):
    cells = 8 * 8 + 4 * 4 + 2 * 2
    p = np.zeros((1, 4 + 3, cells), np.float32)
    p[0, :4, 5] = [32, 32, 16, 16]  # cx, cy, w, h in the 64x64 input
    p[0, 4 + 2, 5] = 0.9            # class 2
    det = OnnxDetector(_constant_detector(tmp_path, {"output0": p}))
    assert det.layout == "yolov8"
    # a 32x64 frame is letterboxed (scale 1, centred: 16 px of padding on top)
    out = det(np.zeros((32, 64, 3), np.uint8))
    assert len(out) == 1 and out.classes[0] == 2 and out.scores[0] == pytest.approx(0.9)
    np.testing.assert_allclose(out.boxes[0], [24, 8, 40, 24], atol=1e-4)


def test_nms_layout_reads_outputs_by_name(tmp_path):
    outs = {"num_dets": np.array([[1]], np.int64), "boxes": np.array([[[0, 0, 10, 10], [5, 5, 9, 9]]], np.float32),
            "scores": np.array([[0.8, 0.7]], np.float32), "classes": np.array([[1, 3]], np.int64)}
    det = OnnxDetector(_constant_detector(tmp_path, outs))
    assert det.layout == "nms"
    out = det(np.zeros((64, 64, 3), np.uint8))
    assert len(out) == 1 and out.classes[0] == 1  # num_dets = 1 keeps the first only


def test_unknown_layout_names_the_shapes_found(tmp_path):
    path = _constant_detector(tmp_path, {"weird": np.zeros((1, 7), np.float32)})
    with pytest.raises(DetectorError, match=r"weird \[1, 7\].*--detector-layout"):
        OnnxDetector(path)


def test_callable_detector_and_coco_ap_basics():
    box = Detections(np.array([[10, 10, 50, 50]], np.float32), np.array([1.0], np.float32), np.array([2]))
    det = as_detector(lambda rgb: (box.boxes, box.scores, box.classes))
    found = det(np.zeros((64, 64, 3), np.uint8))
    assert coco_ap([box], [found])["ap50"] == pytest.approx(1.0)
    miss = Detections(np.array([[100, 100, 120, 120]], np.float32), np.array([0.9], np.float32), np.array([2]))
    assert coco_ap([box], [miss])["ap50"] == pytest.approx(0.0)
    assert coco_ap([box], [Detections.empty()])["ap50"] == 0.0
    assert coco_ap([Detections.empty()], [box])["ap50"] is None  # nothing to find: AP is undefined, not 0 or 1


def test_yolo_txt_labels_are_read_in_pixels(tmp_path):
    (tmp_path / "f.txt").write_text("2 0.5 0.5 0.25 0.5\n")
    labels = load_labels(tmp_path, {"f": (100, 200), "g": (100, 200)})
    np.testing.assert_allclose(labels["f"].boxes[0], [75, 25, 125, 75])
    assert len(labels["g"]) == 0
    (tmp_path / "f.txt").write_text("car 0.5\n")
    with pytest.raises(DetectorError, match="class cx cy w h"):
        load_labels(tmp_path, {"f": (100, 200)})


@pytest.fixture(scope="module")
def road_frames_with_objects():
    if not (YOLOX.is_file() and CAMVID.is_dir()):
        pytest.skip("needs ../shared/models/yolox_nano and ../shared/data/road/research_only/camvid beside the checkout")
    from drn_edge.evaluation.eval_frames import clean_dir_sources, rain_frames

    sources = clean_dir_sources(CAMVID)[::40][:4]
    return rain_frames(sources, ("high",), size=(240, 320))


def test_real_detector_identity_gives_the_rainy_ap_and_a_blur_gives_less(road_frames_with_objects):
    import cv2

    det = OnnxDetector(YOLOX)
    assert det.layout == "yolox" and det.input_hw == (416, 416)
    clean_dets = det(road_frames_with_objects[0].clean)
    assert len(clean_dets.above(0.5)) >= 1  # a real detector finds the cars and people of a real road frame
    report = detection_check(det, road_frames_with_objects,
                             {"identity": lambda x: x.copy(), "median": lambda x: cv2.medianBlur(x, 9)})
    row = report["levels"]["high"]
    assert row["truth_boxes"] >= 4
    assert row["identity"]["ap50"] == row["rainy"]["ap50"] and row["identity"]["ap"] == row["rainy"]["ap"]
    assert row["identity"]["ap50_change"] == 0.0
    assert row["rainy"]["ap50"] < 1.0  # heavy rain costs the detector something
    assert row["median"]["ap50"] < row["rainy"]["ap50"]  # a derainer that blurs must show as harmful


def test_reference_comparison_is_perfect_for_the_reference_itself(road_frames_with_objects):
    det = OnnxDetector(YOLOX)
    perfect = {id(f.rainy): f.clean for f in road_frames_with_objects}  # a derainer that returns the clean frame
    report = detection_check(det, road_frames_with_objects, {"fp32": lambda x: perfect[id(x)],
                                                             "int8": lambda x: perfect[id(x)]}, reference="fp32")
    row = report["levels"]["high"]
    assert row["fp32"]["ap50"] == pytest.approx(1.0)  # the clean frame's own boxes are found again
    assert "ap50_vs_reference" not in row["fp32"] and row["int8"]["ap50_vs_reference"] == pytest.approx(1.0)


def _need_shared():
    if not (YOLOX.is_file() and CAMVID.is_dir()):
        pytest.skip("needs ../shared/models/yolox_nano and ../shared/data/road/research_only/camvid beside the checkout")


def test_drn_bench_and_drn_eval_report_the_detection_check(tiny_onnx, tiny_checkpoint, tmp_path, capsys):
    import json

    from drn_edge.cli.bench import main as bench_main
    from drn_edge.cli.evaluate import main as eval_main

    _need_shared()
    det = ["--detector", str(YOLOX), "--detect-frames", str(CAMVID), "--detect-max-frames", "2", "--no-progress"]
    rc = bench_main(["--engine", str(tiny_onnx["float"]), "--no-pytorch", "--size", "240x320", "--frames", "1",
                     "--warmup", "0", "--warmup-seconds", "0", "--json", str(tmp_path / "b.json"),
                     "--detect-markdown", str(tmp_path / "d.md"), *det])
    assert rc == 0
    report = json.loads((tmp_path / "b.json").read_text())["detection"]
    label = next(k for k in report["levels"]["high"] if k.startswith("drn_float"))
    assert report["levels"]["high"][label]["ap50"] is not None and report["reference"] == label
    assert "AP@0.5" in (tmp_path / "d.md").read_text() and "detection check" in capsys.readouterr().out
    rc = eval_main(["--checkpoint", str(tiny_checkpoint), "--sizes", "120x160", "--no-generators",
                    "--json", str(tmp_path / "e.json"), *det])
    assert rc == 0
    tables = json.loads((tmp_path / "e.json").read_text())["tables"]
    assert set(tables["detection"]["levels"]) == {"low", "medium", "high"}


def test_a_bad_detector_is_one_line_before_any_work(tiny_checkpoint, tmp_path, capsys):
    from drn_edge.cli.evaluate import main as eval_main

    (tmp_path / "det.onnx").write_bytes(b"not onnx")
    assert eval_main(["--checkpoint", str(tiny_checkpoint), "--detector", str(tmp_path / "det.onnx")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ONNX Runtime cannot load detector") and "Traceback" not in err


def test_nan_or_inverted_boxes_are_refused_not_scored(tmp_path):
    """NaN boxes gave AP 1.0, and inverted or NaN label boxes were accepted (round 4, item 11)."""
    from drn_edge.detection.check import detection_check
    from drn_edge.evaluation.eval_frames import EvalFrame

    frame = np.zeros((64, 64, 3), np.uint8)
    frames = [EvalFrame("f", "high", frame, frame)]
    nan = Detections(np.array([[np.nan, 1, 2, 3]], np.float32), np.array([0.9], np.float32), np.array([0]))
    with pytest.raises(DetectorError, match="NaN or infinite"):
        detection_check(lambda rgb: nan, frames, {"identity": lambda x: x}, progress=False)
    (tmp_path / "f.txt").write_text("2 0.5 0.5 -0.25 0.5\n")  # negative width: x2 < x1
    with pytest.raises(DetectorError, match="end before they start"):
        load_labels(tmp_path, {"f": (100, 200)})
    (tmp_path / "f.txt").write_text("2 nan 0.5 0.25 0.5\n")
    with pytest.raises(DetectorError, match="NaN or infinite"):
        load_labels(tmp_path, {"f": (100, 200)})


def test_a_detector_that_loads_but_cannot_run_fails_before_any_work(tiny_checkpoint, tmp_path, capsys):
    """Found only after the whole bench before (about 14 minutes in one run; round 4, item 15)."""
    from drn_edge.cli.evaluate import main as eval_main

    inp = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, "h", "w"])  # dynamic: not inferable
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 10, 85])
    value = numpy_helper.from_array(np.array([1, -1, 85], np.int64), "shape_value")
    graph = helper.make_graph([helper.make_node("Constant", [], ["target"], value=value),
                               helper.make_node("Reshape", ["images", "target"], ["output"])], "det", [inp], [out])
    # at run time 3*H*W values do not make rows of 85: it fails then, not at load
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(tmp_path / "det.onnx"))
    assert eval_main(["--checkpoint", str(tiny_checkpoint), "--detector", str(tmp_path / "det.onnx"),
                      "--json", str(tmp_path / "r.json")]) == 2
    err = capsys.readouterr().err
    assert "loads but cannot run" in err and "Traceback" not in err and not (tmp_path / "r.json").exists()


def test_nan_scores_are_an_error_not_an_empty_frame(tmp_path):
    cells = 8 * 8 + 4 * 4 + 2 * 2
    p = np.full((1, 4 + 3, cells), np.nan, np.float32)  # a broken graph: every score NaN
    det = OnnxDetector(_constant_detector(tmp_path, {"output0": p}))
    with pytest.raises(DetectorError, match="3 NaN or infinite scores|NaN or infinite scores of"):
        det(np.zeros((64, 64, 3), np.uint8))


def test_a_contradicting_layout_is_used_with_a_note_and_a_huge_declared_input_is_refused(tmp_path):
    cells = 8 * 8 + 4 * 4 + 2 * 2
    path = _constant_detector(tmp_path, {"output0": np.zeros((1, 7, cells), np.float32)})
    with pytest.warns(UserWarning, match="--detector-layout yolov5 was given, but .* look like the yolov8 layout"):
        det = OnnxDetector(path, layout="yolov5")
    assert det.layout == "yolov5"
    huge = _constant_detector(tmp_path, {"output0": np.zeros((1, 7, 5), np.float32)}, hw=(100_000, 100_000))
    with pytest.raises(DetectorError, match=r"declares an input of 100000x100000 .* must lie in 32..4096"):
        OnnxDetector(huge)


def test_labels_that_name_none_of_the_frames_are_an_error_not_na(tmp_path):
    (tmp_path / "other.txt").write_text("2 0.5 0.5 0.25 0.5\n")
    with pytest.raises(DetectorError, match=r"names none of the 2 frames .*'other'"):
        load_labels(tmp_path, {"f": (100, 200), "g": (100, 200)})
    coco = tmp_path / "c.json"
    coco.write_text('{"images": [{"id": 1, "file_name": "x.jpg"}], "annotations": '
                    '[{"image_id": 1, "category_id": 2, "bbox": [1, 1, 5, 5]}]}')
    with pytest.raises(DetectorError, match="names none of the 1 frames"):
        load_labels(coco, {"f": (100, 200)})
    assert len(load_labels(coco, {"x": (100, 200)})["x"]) == 1
