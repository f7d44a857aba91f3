#!/usr/bin/env bash
# One paired lever run of docs/levers.md: bash benchmarks/lever_run.sh NAME [drn-train options of the one change]
# The control is the rich-leaves lever command (the `--leaf-textures rich` row of "Rain over generated scenes",
# docs/levers.md): from run 9's drn_edge, seed 41, 2,000 steps, lr 5e-4, --loss ssim-l1 --dead-leaves 0.3
# --leaf-textures rich, one torch thread (give each run its own free core). Writes runs/lever-NAME/ (last, best,
# log.csv); run from the repository root with ../shared beside it. Example (run 16):
#   bash benchmarks/lever_run.sh ps-only --rain-mix photoshop=1
set -euo pipefail
name="${1:?usage: lever_run.sh NAME [drn-train options]}"
shift
R=../shared/data/road/permissive
E=../shared/eval
[ -d "$R" ] || { echo "lever_run.sh: $R not found (run from the repository root with ../shared beside it)" >&2; exit 2; }
exec drn-train --out "runs/lever-$name" --model drn_base --init benchmarks/checkpoints/run9/drn_edge-best.safetensors \
  --clean "$R/lanelines_p1" --clean "$R/udacity_ch2_hmb3" --clean "$R/pandaset_seq002" --weights 0.2,0.2,0.3,0.3 \
  --val-road "$R/evocargo" --val-road "$R/comma2k19" --val-pairs "$E/rain100l" --val-pairs "$E/rain200h" \
  --val-real ../shared/data/road/rainy_real/nturain_rb2 --steps 2000 --batch 6 --crop 160 --lr 5e-4 --warmup 100 \
  --val-every 500 --save-every 250 --threads 1 --seed 41 --precision auto --compile --faint-boost 5 --loss ssim-l1 \
  --dead-leaves 0.3 --leaf-textures rich --no-progress "$@"
