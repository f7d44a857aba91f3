#!/usr/bin/env bash
# One paired lever run of docs/levers.md and docs/levers-scenes.md: bash benchmarks/lever_run.sh NAME [drn-train options of the one change]
# The control is the rich-leaves lever command (the `--leaf-textures rich` row of "Rain over generated scenes",
# docs/levers-scenes.md): from run 9's drn_edge, seed 41, 2,000 steps, lr 5e-4, --loss ssim-l1 --dead-leaves 0.3
# --leaf-textures rich, one torch thread (give each run its own free core), on permissive_train.sh's data. Writes
# runs/lever-NAME/ (last, best, log.csv) in the repository, with ../shared beside it. Example (run 16):
#   bash benchmarks/lever_run.sh ps-only --rain-mix photoshop=1
set -euo pipefail
name="${1:?usage: lever_run.sh NAME [drn-train options]}"
shift
cd "$(dirname "$0")/.."
source benchmarks/permissive_train.sh
train_on_permissive "runs/lever-$name" --init benchmarks/checkpoints/run9/drn_edge-best.safetensors \
  --steps 2000 --crop 160 --lr 5e-4 --save-every 250 --threads 1 --seed 41 \
  --loss ssim-l1 --dead-leaves 0.3 --leaf-textures rich "$@"
