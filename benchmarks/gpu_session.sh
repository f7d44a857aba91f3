#!/usr/bin/env bash
# One device call for a session lent a GPU: the GPU check, then drn_base trained on the GPU for MINUTES from the
# committed weights of base-long (train_cpu.sh's 20,000-step drn_base run) with the same recipe, a run of its own
# (fresh optimizer, a STEPS-step schedule, default 4,000), with everything the next step needs written under OUT_DIR
# (the device tool's $OUT: 8 files at most come back).
#   here:      bash benchmarks/gpu_data.sh          (gpu_data/: the frames, git-ignored; ../shared does not travel)
#   device:    bash benchmarks/gpu_session.sh 6 $OUT     carry: ["gpu_data"]; timeout_s 600; SKIP_CHECK=1 to train only
#   back here: measure FILES_AT/base-gpu/best.safetensors and last.safetensors as each copy of docs/levers-runs.md is
#              measured (drn-eval with Rain100L, CamVid at both sizes, benchmarks/candidate_check.py), then commit them.
# On the GPU: batch 24 (4x a CPU step's crops), crop 160, bf16, compiled, batches drawn by all cores but two
# (--data-workers); validation on the two held-out drives, Rain200H and the real frames (Rain100L stays behind:
# python benchmarks/score_checkpoints.py scores the returned weights here).
set -euo pipefail
cd "$(dirname "$0")/.."
usage="usage: gpu_session.sh MINUTES OUT_DIR"
minutes="${1:?$usage}"
out="${2:?$usage}"
[[ -d gpu_data ]] || { echo "gpu_data/ is not here: run bash benchmarks/gpu_data.sh and carry gpu_data" >&2; exit 2; }
source benchmarks/permissive_train.sh  # REALMIX
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
if [[ -z "${SKIP_CHECK:-}" ]]; then
  PYTHONPATH=. python3 -m pytest -q -m gpu tests/test_gpu.py -p no:cacheprovider > "$out/gpu_tests.txt" 2>&1 \
    || echo "the GPU tests failed (see $out/gpu_tests.txt)"
  tail -n 5 "$out/gpu_tests.txt"
  PYTHONPATH=. python3 benchmarks/gpu_check.py --out "$out" --frames "${FRAMES:-100}" || echo "gpu_check: some rows failed (see $out/pytorch_cuda.md)"
fi
start=benchmarks/checkpoints/run23/base-long-last.safetensors
[[ -f "$start" ]] || { echo "$start is not committed: commit base-long's state first" >&2; exit 2; }
workers=$(( $(nproc) - 2 )); (( workers < 1 )) && workers=0
D=gpu_data
PYTHONPATH=. python3 -m drn_edge.cli.train --out "$out/base-gpu" --init "$start" --model drn_base --minutes "$minutes" \
  --clean $D/lanelines_p1 --clean $D/udacity_ch2_hmb3 --clean $D/pandaset_seq002 --weights 0.2,0.2,0.3,0.3 \
  --val-road $D/evocargo --val-road $D/comma2k19 --val-pairs $D/rain200h --val-real $D/nturain_rb2 \
  --steps "${STEPS:-4000}" --batch 24 --crop 160 --lr 2e-4 --warmup 100 --val-every 500 --save-every 200 --seed 131 \
  --precision auto --compile --faint-boost 5 --data-workers "$workers" --no-progress "${REALMIX[@]}" 2>&1 | tee "$out/train.txt"
ls -la "$out/base-gpu"
