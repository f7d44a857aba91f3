# Sourced by train_cpu.sh and lever_run.sh: the drn-train command every CPU run of docs/levers.md shares (the permissive
# drives to train on, the held-out drives, Rain100L, Rain200H and the real frames to validate on, batch 6, bf16 where
# the CPU has it, compiled). Callers add the start, steps, crop, lr, seed, threads and their levers.
R=../shared/data/road/permissive
E=../shared/eval
# The realistic rain mix and levers of run 17 on (the shipped models' recipe; docs/models.md): train_cpu.sh's runs
# from edge-realmix on, and gpu_session.sh.
REALMIX=(--loss ssim-l1 --dead-leaves 0.3 --leaf-textures rich
  --rain-mix streaks=0.06,photoshop=0.4,heavy=0.06,drops=0.04,long=0.05,night=0.05,windshield=0.04,drizzle=0.3)

train_on_permissive() {  # usage: train_on_permissive OUT [drn-train options]
  local out="$1"
  shift
  [ -d "$R" ] || { echo "$R not found (run from the repository root with ../shared beside it)" >&2; exit 2; }
  exec drn-train --out "$out" --model drn_base \
    --clean "$R/lanelines_p1" --clean "$R/udacity_ch2_hmb3" --clean "$R/pandaset_seq002" --weights 0.2,0.2,0.3,0.3 \
    --val-road "$R/evocargo" --val-road "$R/comma2k19" --val-pairs "$E/rain100l" --val-pairs "$E/rain200h" \
    --val-real ../shared/data/road/rainy_real/nturain_rb2 \
    --batch 6 --warmup 100 --val-every 500 --precision auto --compile --faint-boost 5 --no-progress "$@"
}
