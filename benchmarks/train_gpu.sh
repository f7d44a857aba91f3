#!/usr/bin/env bash
# Train drn_base for a fixed number of minutes on one GPU (or the CPU where there is none) and write
# the checkpoint to OUT_DIR/last.safetensors. Usage: bash benchmarks/train_gpu.sh MINUTES OUT_DIR [drn-train flags]
# Training data: scikit-image's bundled photos, plus --clean DIR / --pairs DIR (../shared does not travel to a
# device machine: copy the frames into a git-ignored folder of the checkout and carry it, under 64 MiB in all).
# Needs torch (with CUDA on a GPU machine), safetensors, scikit-image, opencv, numpy, tqdm: nothing is downloaded.
# Resumes OUT_DIR if it holds a checkpoint, so a run cut short by a time limit can be continued.
set -euo pipefail
cd "$(dirname "$0")/.."
minutes="${1:?usage: train_gpu.sh MINUTES OUT_DIR [drn-train flags]}"
out="${2:?usage: train_gpu.sh MINUTES OUT_DIR [drn-train flags]}"
shift 2
resume=(); [[ -f "$out/last.safetensors" ]] && resume=(--resume)
init=(); [[ ${#resume[@]} -eq 0 ]] && init=(--init drn_edge/weights/drn_base.safetensors)
python -c "import torch; print('torch', torch.__version__, 'cuda' if torch.cuda.is_available() else 'cpu',
           torch.cuda.get_device_name(0) if torch.cuda.is_available() else '')"
# The rain is drawn on the CPU (32 crops of 192 px: about 1.6 s on one core): all cores but two draw batches ahead
# of the GPU's step (--data-workers; none on a machine of two cores or fewer).
workers=$(( $(nproc) - 2 )); (( workers < 1 )) && workers=0
PYTHONPATH=. python -m drn_edge.cli.train --out "$out" --model drn_base "${init[@]}" "${resume[@]}" \
  --minutes "$minutes" --steps 20000 --batch 32 --crop 192 --lr 1e-3 --val-every 500 --save-every 200 \
  --data-workers "$workers" "$@"
