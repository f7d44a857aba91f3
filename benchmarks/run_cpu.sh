#!/usr/bin/env bash
# Reproduce the committed CPU benchmark tables (benchmarks/results/cpu/): the shipped model and a 30 %-pruned
# one, FP32 / FP16 / INT8 on ONNX Runtime's CPU provider plus PyTorch eager, at 360x640 and 720x1280.
# About 25 minutes on the 2-core development machine. Usage: bash benchmarks/run_cpu.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results/cpu}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
for size in 360x640 720x1280; do
  h="${size%x*}"; w="${size#*x}"
  drn-export --out "$work/base-$size" --height "$h" --width "$w" --io uint8 --fp16 --int8 --calib-size 240x320
  drn-export --out "$work/p30-$size" --height "$h" --width "$w" --io uint8 --fp16 --int8 --calib-size 240x320 \
    --prune 0.3 --finetune-steps "${FINETUNE_STEPS:-400}"
  frames=20; [[ "$size" == 720x1280 ]] && frames=10
  for model in base p30; do
    d="$work/$model-$size"
    drn-bench --engine "$d/drn.onnx" --engine "$d/drn.fp16.onnx" --engine "$d/drn.int8.onnx" \
      --frames "$frames" --warmup 3 --pairs ../shared/eval/rain200h --no-progress \
      --json "$out/$model-$size.json" --markdown "$out/$model-$size.md" \
      --plot "$out/$model-$size-latency.png" --grid "$out/$model-$size-grid.jpg"
  done
done
echo "results in $out"
