#!/usr/bin/env bash
# Reproduce the committed CPU benchmark tables (benchmarks/results/cpu/): the shipped drn_base and drn_edge,
# FP32 / FP16 / INT8 on ONNX Runtime's CPU provider plus PyTorch eager, at 360x640 and 720x1280, with fidelity on
# the bundled held-out frames and the Rain200H pairs in ../shared. About 20 minutes on the 2-core development
# machine. No image grid is committed: it would show the Rain200H pairs, which may not be redistributed
# (add --grid FILE to look at one locally). Usage: bash benchmarks/run_cpu.sh [OUT_DIR]   (FRAMES_360 / FRAMES_720 set the timed
# frames; MODELS=drn_edge measures one model)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results/cpu}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
for size in 360x640 720x1280; do
  frames="${FRAMES_360:-20}"; [[ "$size" == 720x1280 ]] && frames="${FRAMES_720:-8}"
  for model in ${MODELS:-drn_base drn_edge}; do  # MODELS=drn_edge re-measures one model
    d="$work/$model-$size"
    drn-export --checkpoint "$model" --out "$d" --size "$size" --io uint8 --fp16 --int8 --no-fidelity --backend onnx
    drn-bench --engine "$d/drn.onnx" --engine "$d/drn.fp16.onnx" --engine "$d/drn.int8.onnx" \
      --frames "$frames" --warmup 2 --pairs ../shared/eval/rain200h --no-progress \
      --json "$out/$model-$size.json" --markdown "$out/$model-$size.md" \
      --plot "$out/$model-$size-latency.png"
  done
done
echo "results in $out"
