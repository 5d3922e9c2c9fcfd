#!/usr/bin/env bash
# Two short probes of what limits the photo x2 model on realistic input, scored on data/extra-photos (nine
# free-licence photos and textures; docs/results.md quotes the figures). They hold those photos out: every
# run trains on T91 alone (data.extra_hr_dirs emptied) and starts from, or is compared with, the T91-only
# photo x2 model shipped before the extra photos were added (taken from git history, commit 8fdd199^):
#   (1) degradation ranges: that model fine-tuned for 400 iterations (Adam 1e-4, cosine) on its own
#       recipe ("ctrl") and on ranges close to the eval setting's ("mild": first-stage noise p 0.2 sigma 1-5
#       and no first-stage JPEG, second-stage blur p 0.2, noise sigma 1-9, Poisson 0.05-0.6, JPEG 55-95,
#       final sinc p 0.1);
#   (2) capacity: the photo x2 recipe from scratch for 1,200 iterations (EMA 0.99) with 48 features x 10 convs
#       (the shipped size) and with 64 x 12.
# Each run uses the recipe's two threads; about 35 minutes in all on the 2-core CPU. Training runs go to
# OUT_DIR, the scores (attnsr eval --json) to docs/figures/photo_probes/.
#   bash benchmarks/photo_probes.sh [OUT_DIR]        (default /tmp/photo_probes; env ATTNSR=the CLI)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-/tmp/photo_probes}"
cli="${ATTNSR:-.venv/bin/attnsr}"
recipe=configs/bundled/attnsr-photo_x2.yaml
R=data.realistic.realesrgan
scores=docs/figures/photo_probes
score() {  # label, weights
  echo "== $1"
  "$cli" eval --weights "$2" --dataset data/extra-photos --scale 2 --degradation realistic --seed 0 \
    --metrics psnr,lpips --no-progress --json "$scores/$1_realistic.json" | tail -1
  "$cli" eval --weights "$2" --dataset data/extra-photos --scale 2 --metrics psnr --no-progress \
    --json "$scores/$1_clean.json" | tail -1
}
mkdir -p "$out" "$scores"
echo "== bicubic"
"$cli" eval --dataset data/extra-photos --scale 2 --degradation realistic --seed 0 --metrics psnr,lpips \
  --no-progress --json "$scores/bicubic_realistic.json" | tail -1
"$cli" eval --dataset data/extra-photos --scale 2 --metrics psnr --no-progress \
  --json "$scores/bicubic_clean.json" | tail -1
base="$out/attnsr-photo-t91_x2.safetensors"
git show 8fdd199^:attnsr/assets/models/attnsr-photo_x2.safetensors > "$base"
score shipped "$base"

t91=(--set "data.extra_hr_dirs=[]")
tune=(--no-progress "${t91[@]}" --set "model.pretrained=$base"
      --set iterations=400 --set save_every=400 --set log_every=100 --set optim.lr=1e-4)
mild=(--set "$R.first.noise_prob=0.2" --set "$R.first.noise_sigma=[1.0,5.0]" --set "$R.first.jpeg_prob=0.0"
      --set "$R.second.blur_prob=0.2" --set "$R.second.noise_sigma=[1.0,9.0]"
      --set "$R.second.poisson_scale=[0.05,0.6]" --set "$R.second.jpeg_quality=[55.0,95.0]"
      --set "$R.final_sinc_prob=0.1")
"$cli" train "$recipe" "${tune[@]}" --set "output_dir=$out/ctrl" --set name=ctrl
"$cli" train "$recipe" "${tune[@]}" "${mild[@]}" --set "output_dir=$out/mild" --set name=mild
for run in ctrl mild; do
  score "${run}_generator" "$out/$run/checkpoints/iter_00000400/generator.safetensors"
  score "${run}_ema" "$out/$run/checkpoints/iter_00000400/ema.safetensors"
done

scratch=(--no-progress "${t91[@]}" --set iterations=1200 --set save_every=1200 --set log_every=100 --set ema_decay=0.99)
for size in "48 10" "64 12"; do
  read -r nf convs <<< "$size"
  name="n${nf}x${convs}"
  "$cli" train "$recipe" "${scratch[@]}" --set "model.options.nf=$nf" --set "model.options.num_conv=$convs" \
    --set "output_dir=$out/$name" --set "name=$name"
  score "$name" "$out/$name/checkpoints/iter_00001200/ema.safetensors"
done
