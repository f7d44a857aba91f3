#!/usr/bin/env bash
# Reproduce the README's quality tables for the shipped models: drn-eval of each checkpoint (PyTorch) on the held-out
# photos and the held-out road drives (evocargo, comma2k19: in no training split) at 640x360 and 1280x720 under
# low/medium/high rain, every rain generator (particles and dof never trained on), Rain100L and Rain200H pairs, the
# clean-frame table (the held-out frames plus research-only frames of other conditions, evaluation only), the real-rain
# figure (nturain_rb2: mean change and removal share) and the balanced score; then their FP32 and INT8 ONNX exports
# (the shipped INT8 ranges) for the INT8 drop; and the detection check of each model with YOLOX-nano. Everything is
# read from ../shared (never copied; the real-rain grids go to a temp folder). About 30 minutes on the 2-core
# development machine (the two models run side by side, one thread each). The README and docs/models.md tables are
# then made from OUT_DIR by `python benchmarks/model_tables.py OUT_DIR --write`.
# Usage: bash benchmarks/eval_models.sh [OUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-benchmarks/results/eval}"
S=../shared
R=$S/data/road/permissive
Q=$S/data/road/research_only
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"
road=(--road "$R/evocargo" --road "$R/comma2k19")
clean=(--clean-frames "$Q/camvid" --clean-frames "$Q/tusimple_lanenet" --clean-frames "$Q/cityscapes_jetson"
       --clean-frames "$Q/bdd_hybridnets" --clean-frames "$Q/mmdet3d_kitti_nuscenes")
pairs=(--pairs "$S/eval/rain100l" --pairs "$S/eval/rain200h")
one_model() {
  local model="$1"
  drn-eval --checkpoint "$model" "${road[@]}" "${clean[@]}" "${pairs[@]}" --threads 1 --no-progress \
    --real "$S/data/road/rainy_real/nturain_rb2" --grid "$work/real-$model.jpg" \
    --json "$out/$model.json" > "$out/$model.txt"
  drn-export --checkpoint "$model" --out "$work/$model" --int8 --no-fidelity --backend onnx --threads 1 > /dev/null
  for artifact in drn.onnx drn.int8.onnx; do
    drn-eval --engine "$work/$model/$artifact" "${road[@]}" --no-generators --threads 1 --no-progress \
      --json "$out/$model-$artifact.json" > "$out/$model-$artifact.txt"
  done
}
one_model drn_base & base=$!
one_model drn_edge & edge=$!
wait "$base" "$edge"
for model in drn_base drn_edge; do
  drn-eval --checkpoint "$model" --sizes 360x640 --no-generators --threads 2 --no-progress \
    --detector "$S/models/yolox_nano/yolox_nano.onnx" --detector-classes "$S/models/yolox_nano/coco_classes.txt" \
    --detect-frames "$Q/camvid" --detect-max-frames 12 --detect-markdown "$out/detection-$model.md" \
    --json "$work/detect.json" > "$out/detection-$model.txt"
done
echo "results in $out"
