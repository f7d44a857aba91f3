#!/usr/bin/env bash
# The training and validation frames a device machine needs, copied from ../shared into gpu_data/ (git-ignored, never
# committed) small enough to travel beside the checkout (the device tool carries at most 64 MiB with the tracked files):
# ../shared does not travel. Usage: bash benchmarks/gpu_data.sh   then name gpu_data in the device run's carry.
# Training drives of permissive_train.sh (pandaset's 1920x1080 frames shrunk to 1280x720 and udacity's every second
# frame, both JPEG quality 85; lanelines_p1 as it is, its videos included); validation: evocargo and comma2k19, Rain200H, the real frames. Rain100L (11 MB) stays behind:
# score its checkpoints here afterwards (benchmarks/score_checkpoints.py).
set -euo pipefail
cd "$(dirname "$0")/.."
S=../shared
[ -d "$S/data/road/permissive" ] || { echo "$S/data/road/permissive not found (run from the repository root with ../shared beside it)" >&2; exit 2; }
rm -rf gpu_data && mkdir -p gpu_data
cp -r "$S/data/road/permissive/lanelines_p1" "$S/data/road/permissive/evocargo" "$S/data/road/permissive/comma2k19" \
  "$S/eval/rain200h" "$S/data/road/rainy_real/nturain_rb2" gpu_data/
python - "$S/data/road/permissive" gpu_data <<'PY'
import sys
from pathlib import Path

import cv2

for name, every in (("pandaset_seq002", 1), ("udacity_ch2_hmb3", 2)):
    src, dst = Path(sys.argv[1]) / name, Path(sys.argv[2]) / name
    dst.mkdir()
    frames = sorted(f for f in src.iterdir() if f.suffix.lower() in (".jpg", ".jpeg", ".png"))
    for f in frames[::every]:
        img = cv2.imread(str(f))
        h, w = img.shape[:2]
        if h > 720:
            img = cv2.resize(img, (round(w * 720 / h), 720), interpolation=cv2.INTER_AREA)
        cv2.imwrite(str(dst / (f.stem + ".jpg")), img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    for f in src.iterdir():
        if f not in frames:
            (dst / f.name).write_bytes(f.read_bytes())  # licence files travel with the frames
PY
tracked=$(git ls-files -z | xargs -0 du -cb | tail -1 | cut -f1)
data=$(du -sb gpu_data | cut -f1)
echo "gpu_data/: $((data / 1048576)) MiB; with the tracked files $(((data + tracked) / 1048576)) MiB of the 64 MiB the device tool carries"
