"""The downstream detection check: a user's detector on clean, rainy and derained frames (torch-free).

Import from the modules: ``detector`` (OnnxDetector, Detections), ``check`` (detection_check),
``labels`` (COCO JSON / YOLO txt ground truth), ``draw`` (box grids).
"""
