#!/usr/bin/env bash
# Reproduce the README's quality tables: drn-eval of the shipped models (checkpoints, PyTorch) and of their FP32 and
# INT8 ONNX exports (the INT8 drop is measured on evaluation frames the calibration set never saw: its frames come
# from another source). Also Rain200H from ../shared and a grid of real rainy frames (no ground truth), written to
# REAL_GRID_DIR (default: real_rain_grids/, git-ignored: the real rainy frames are research-only and never committed).
# About 15 minutes on the 2-core development machine. Usage: bash benchmarks/eval_models.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results/eval}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
grids="${REAL_GRID_DIR:-real_rain_grids}"
mkdir -p "$out" "$grids"
for model in drn_base drn_edge; do
  drn-eval --checkpoint "$model" --pairs ../shared/eval/rain200h --no-progress --json "$out/$model.json" \
    --real ../shared/data/road/rainy_real/nturain_rb2 --grid "$grids/$model-real-rain.jpg"
  drn-export --checkpoint "$model" --out "$work/$model" --int8 --no-fidelity --backend onnx
  for artifact in drn.onnx drn.int8.onnx; do
    drn-eval --engine "$work/$model/$artifact" --no-generators --no-progress --json "$out/$model-$artifact.json"
  done
done
echo "results in $out"
