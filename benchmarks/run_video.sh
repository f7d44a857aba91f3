#!/usr/bin/env bash
# Reproduce the README's video figures (benchmarks/results/video/): temporal stability of the shipped models on the
# dashcam clip under moving rain, and the multi-stream table. About 3.5 minutes on the 2-core development machine.
# The side-by-side clip is written to SIDE_BY_SIDE (default: side_by_side.mp4) and its first frames to
# FIGURES/temporal-first-frames.jpg (default: figures/), both git-ignored: they show the clip's pixels, which
# the project never commits. Usage: bash benchmarks/run_video.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results/video}"
clip="${CLIP:-../shared/data/road/permissive/lanelines_p1/solidWhiteRight.mp4}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out" "${FIGURES:-figures}"
for model in drn_base drn_edge; do
  drn-export --checkpoint "$model" --out "$work/$model" --int8 --no-fidelity --backend onnx
done
# Temporal stability: 60 frames at 360x640, medium moving rain (seed 0), every engine on the same rainy clip.
drn-bench video "$clip" --frames 60 --size 360x640 --rain medium --no-pytorch --no-progress \
  --engine "$work/drn_base/drn.onnx" --engine "$work/drn_edge/drn.onnx" --engine "$work/drn_edge/drn.int8.onnx" \
  --json "$out/temporal-360x640.json" --markdown "$out/temporal-360x640.md" --plot "$out/temporal-360x640.png" \
  --grid "${FIGURES:-figures}/temporal-first-frames.jpg" --side-by-side "${SIDE_BY_SIDE:-side_by_side.mp4}"
# Several cameras into one engine (drn_edge INT8, 360x640): a rate this machine can hold, and one it cannot.
drn-bench streams --cameras 2 --fps 1 --seconds 30 --size 360x640 --engine "$work/drn_edge/drn.int8.onnx" --no-progress \
  --json "$out/streams-2x1fps.json" --markdown "$out/streams-2x1fps.md" --plot "$out/streams-2x1fps.png"
drn-bench streams --cameras 4 --fps 15 --seconds 30 --size 360x640 --engine "$work/drn_edge/drn.int8.onnx" --no-progress \
  --json "$out/streams-4x15fps.json" --markdown "$out/streams-4x15fps.md" --plot "$out/streams-4x15fps.png"
echo "results in $out"
