#!/usr/bin/env bash
# A probe of the pixel loss of the photo x2 model: the shipped attnsr-photo_x2 file fine-tuned for 800
# iterations (Adam 1e-4, cosine, its own recipe and data) with L1, its training loss ("l1", the control),
# and with MSE, the loss PSNR measures ("mse"). Scored with the real-photo setting (attnsr eval
# --degradation realistic --seed 0, PSNR-Y / LPIPS) on B100 and on data/debian-photos, which the shipped
# model never trained on (make it first: .venv/bin/python scripts/debian_photos.py), and on clean MATLAB
# bicubic input (Set5, data/debian-photos). Each run uses the recipe's two threads; about 15 minutes in all
# on the 2-core CPU. Training runs go to OUT_DIR, the scores (attnsr eval --json) to
# docs/figures/photo_probes/loss_*.json; docs/results.md quotes them.
#   bash benchmarks/photo_loss_probe.sh [OUT_DIR]      (default /tmp/photo_loss_probe; env ATTNSR=the CLI)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-/tmp/photo_loss_probe}"
cli="${ATTNSR:-.venv/bin/attnsr}"
shared="${ATTNSR_SHARED:-../shared}"
scores=docs/figures/photo_probes
held="${PROBE_HELD:-data/debian-photos}"  # the held-out photos
[ -d "$held" ] || { echo "$held: not made yet; run .venv/bin/python scripts/debian_photos.py" >&2; exit 1; }
score() {  # label, weights (none: bicubic)
  echo "== $1"
  local weights=()
  [ -n "$2" ] && weights=(--weights "$2")
  "$cli" eval "${weights[@]}" --dataset "$held" --dataset "$shared/datasets/B100" --scale 2 \
    --degradation realistic --seed 0 --metrics psnr,lpips --no-progress --json "$scores/loss_$1_realistic.json" \
    | tail -2
  "$cli" eval "${weights[@]}" --dataset "$shared/datasets/Set5" --dataset "$held" --scale 2 --metrics psnr \
    --no-progress --json "$scores/loss_$1_clean.json" | tail -2
}
mkdir -p "$out" "$scores"
base=attnsr/assets/models/attnsr-photo_x2.safetensors
score bicubic ""
score shipped "$base"
tune=(--no-progress --set "model.pretrained=$base" --set iterations=800 --set save_every=800 --set log_every=100
      --set optim.lr=1e-4)
for loss in l1 mse; do
  "$cli" train configs/bundled/attnsr-photo_x2.yaml "${tune[@]}" --set "loss.pixel=$loss" \
    --set "output_dir=$out/$loss" --set "name=$loss"
  score "$loss" "$out/$loss/checkpoints/iter_00000800/ema.safetensors"
done
