#!/usr/bin/env bash
# The GPU check: run on a machine with a CUDA GPU and PyTorch (no network needed), under 8 minutes.
#   bash benchmarks/gpu_check.sh [OUT_DIR]      (default OUT_DIR: benchmarks/results/gpu)
# 1. installs what else it needs from wheels kept in benchmarks/wheels/ (if that folder exists; 64 MiB in all),
# 2. runs the tests marked gpu,
# 3. measures PyTorch CUDA FP32 / FP16 / channels_last / CUDA graphs / torch.compile for the shipped models at
#    640x360, 1280x720 and 1920x1080 (median and p99 of 200 frames, CUDA events), JSON + Markdown with the GPU name.
# TensorRT itself is not installable on that machine; its plumbing is covered by the CPU tests.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results/gpu}"
if [[ -d benchmarks/wheels ]]; then
  python -m pip install -q --no-index --find-links benchmarks/wheels benchmarks/wheels/*.whl
fi
nvidia-smi --query-gpu=name,driver_version,clocks.max.sm,memory.total --format=csv,noheader || true
PYTHONPATH=. python -m pytest -q -m gpu tests/test_gpu.py -p no:cacheprovider
PYTHONPATH=. python benchmarks/gpu_check.py --out "$out" --frames "${FRAMES:-200}"
