#!/usr/bin/env bash
# Reproduce the README's quality tables for the shipped models. Each checkpoint is exported (FP32 and INT8 ONNX with
# the shipped INT8 ranges), and its FP32 graph evaluated through ONNX Runtime on the held-out photos and the held-out
# road drives (evocargo, comma2k19: in no training split) at 640x360 and 1280x720 under low/medium/high rain, every
# rain generator (particles and dof never trained on), Rain100L and Rain200H pairs, the clean-frame table (the
# held-out frames plus research-only frames of other conditions, evaluation only), the real-rain figure (nturain_rb2:
# mean change and removal share) and the balanced score; the clean CamVid frames again at their own size (NATIVE); the
# INT8 graph on the held-out drives for the INT8 drop; and the detection check with YOLOX-nano. Everything is read
# from ../shared (never copied; the real-rain grids go to a temp folder). About 10 minutes on the 2-core development machine (the two models side by side, one thread each).
# The README and docs/models.md tables are then made from OUT_DIR: python benchmarks/model_tables.py OUT_DIR --write
# Usage: bash benchmarks/eval_models.sh [OUT_DIR]   (MODELS=drn_edge: only that model)
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
NATIVE=352x480  # CamVid's 480x360 frames cropped to a multiple of 8, not resized
one_model() {
  # The exported FP32 graph is what users run, and ONNX Runtime runs it ~10x faster than PyTorch here (the export
  # fails unless it reproduces PyTorch: parity mean under 1e-3), so every table is measured through it.
  local model="$1"
  drn-export --checkpoint "$model" --out "$work/$model" --int8 --no-fidelity --backend onnx --threads 1 > /dev/null
  drn-eval --engine "$work/$model/drn.onnx" "${road[@]}" "${clean[@]}" "${pairs[@]}" --threads 1 --no-progress \
    --real "$S/data/road/rainy_real/nturain_rb2" --grid "$work/real-$model.jpg" \
    --json "$out/$model.json" > "$out/$model.txt"
  # CamVid at its own pixels: a low-resolution camera's thin scene lines are 1-2 px there, as thin as rain
  drn-eval --engine "$work/$model/drn.onnx" --clean-frames "$Q/camvid" --sizes "$NATIVE" --no-generators --threads 1 \
    --no-progress --json "$out/$model-native.json" > "$out/$model-native.txt"
  drn-eval --engine "$work/$model/drn.int8.onnx" "${road[@]}" --no-generators --threads 1 --no-progress \
    --json "$out/$model-drn.int8.onnx.json" > "$out/$model-drn.int8.onnx.txt"
  drn-eval --engine "$work/$model/drn.onnx" --sizes 360x640 --no-generators --threads 1 --no-progress \
    --detector "$S/models/yolox_nano/yolox_nano.onnx" --detector-classes "$S/models/yolox_nano/coco_classes.txt" \
    --detect-frames "$Q/camvid" --detect-max-frames 12 --detect-markdown "$out/detection-$model.md" \
    --json "$work/detect-$model.json" > "$out/detection-$model.txt"
}
pids=()
for model in ${MODELS:-drn_base drn_edge}; do  # MODELS=drn_edge re-measures one model
  one_model "$model" & pids+=($!)
done
wait "${pids[@]}"
echo "results in $out"
