"""From a checkpoint to deployable artifacts: the request, the pipeline, ONNX, INT8, TensorRT plans, Triton.

Presets and shipped calibration ranges are package data here.
"""
