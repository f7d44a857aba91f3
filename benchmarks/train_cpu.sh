#!/usr/bin/env bash
# The background CPU training run of this release (run 8), resumable: bash benchmarks/train_cpu.sh base|edge [THREADS]
# base: drn_base fine-tuned from run 7's best drn_base (benchmarks/checkpoints/run7/) with this release's rain (soft
# drizzle measured against real streaks, hazy scenes); edge: drn_edge (the shipped pruned model) fine-tuned the same way. Each writes
# runs/<model>8/ (last.safetensors with Adam state, best.safetensors by the balanced score, log.csv).
# The first call continues from the committed checkpoint in benchmarks/checkpoints/run8/ when there is one (so a new
# session continues where the last stopped), else starts from the run-7 best (or the shipped weights); later calls
# --resume.
# Give it only the cores that are free: OpenMP threads spin (1 thread while you work, 2 on an idle machine).
set -euo pipefail
cd "$(dirname "$0")/.."
which="${1:?usage: train_cpu.sh base|edge [THREADS]}"
threads="${2:-1}"
R=../shared/data/road/permissive
E=../shared/eval
case "$which" in
  base) init=drn_base; seed=31 ;;
  edge) init=drn_edge; seed=32 ;;
  *) echo "usage: train_cpu.sh base|edge [THREADS]" >&2; exit 2 ;;
esac
out="runs/${which}8"
committed="benchmarks/checkpoints/run8/${init}-last.safetensors"
if [[ ! -f "$out/last.safetensors" && -f "$committed" ]]; then
  mkdir -p "$out" && cp "$committed" "$out/last.safetensors"
  [[ -f "benchmarks/checkpoints/run8/${init}-log.csv" ]] && cp "benchmarks/checkpoints/run8/${init}-log.csv" "$out/log.csv"
fi
previous="benchmarks/checkpoints/run7/${init}-best.safetensors"
[[ "$which" == base && -f "$previous" ]] && init="$previous"
start=(--init "$init"); [[ -f "$out/last.safetensors" ]] && start=(--resume)
exec drn-train --out "$out" --model drn_base "${start[@]}" \
  --clean "$R/lanelines_p1" --clean "$R/udacity_ch2_hmb3" --clean "$R/pandaset_seq002" --weights 0.2,0.2,0.3,0.3 \
  --val-road "$R/evocargo" --val-road "$R/comma2k19" --val-pairs "$E/rain100l" --val-pairs "$E/rain200h" \
  --val-real ../shared/data/road/rainy_real/nturain_rb2 \
  --steps 20000 --batch 6 --crop 160 --lr 3e-4 --warmup 100 --val-every 500 --save-every 200 \
  --threads "$threads" --seed "$seed" --precision auto --compile --faint-boost 5 --no-progress
