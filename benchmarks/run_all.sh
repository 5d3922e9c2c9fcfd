#!/usr/bin/env bash
# Run every benchmark under benchmarks/ once and keep the outputs under out/bench/ (docs/benchmarks.md and
# docs/results.md quote them). Run it on a quiet machine: the figures are wall-clock ratios.
#   bash benchmarks/run_all.sh [--quick] [SHARED_DIR]     (env: PYTHON=interpreter, BENCH_OUT=output folder)
# Full: roughly 2 hours on a 2-core CPU, estimated from the parts (the two training comparisons,
# bundled_seeds.py and photo_candidates.py, train each candidate for 8-10 minutes; train.py 8 minutes).
# --quick: small sizes, one repeat and 1-minute training budgets: it checks that every benchmark runs;
# its figures are not the documented ones.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
if [[ "${1:-}" == "--quick" ]]; then quick=1; shift; fi
shared="${1:-../shared}"
out="${BENCH_OUT:-out/bench}"
py="${PYTHON:-.venv/bin/python}"
mkdir -p "$out"
if (( quick )); then
  q_size=64; q_photo=256x256; q_big=1000x750; q_rep=1; q_min=1; q_tiles="48"
else
  q_size=64; q_photo=1000x1000; q_big=4000x3000; q_rep=3; q_min=""; q_tiles="48 96"
fi
minutes() { if [[ -n "$q_min" ]]; then echo "--minutes $q_min"; fi; }
run() { local name=$1; shift; echo "== $name: $*"; "$py" "$@" | tee "$out/$name.txt"; }

run infer            benchmarks/infer.py --size "$q_size" --repeat "$q_rep" --json "$out/infer.json"
run upscale_memory   benchmarks/upscale_memory.py --size "$q_big" --json "$out/upscale_memory.json"
run upscale_1mp      benchmarks/upscale_memory.py --size "$q_photo" --json "$out/upscale_1mp.json"
run upscale_speed    benchmarks/upscale_speed.py --size "$q_photo" --threads 2 --repeat "$q_rep" --json "$out/upscale_speed.json"
run onnx_vs_engine   benchmarks/onnx_vs_engine.py --size "$q_photo" --repeat "$q_rep" --json "$out/onnx_vs_engine.json"
run auto_tile        benchmarks/auto_tile.py --size "$q_photo" --threads 2 --repeat "$q_rep" --json "$out/auto_tile.json"
run fold             benchmarks/fold.py --threads 2 --repeats $(( q_rep + 2 ))
run hspan_attention  benchmarks/hspan_attention.py --repeats "$q_rep" --mem-size 0
if (( quick )); then q_whole="--lr 24"; else q_whole="--lr 96 --chop 2:quiet,2:busy"; fi
# shellcheck disable=SC2086
run hspan_whole      benchmarks/hspan_attention.py --whole --repeats "$q_rep" --whole-threads 1,2 --loads quiet,busy $q_whole --json "$out/hspan_whole.json"
# shellcheck disable=SC2086
run tiling           benchmarks/tiling.py --model default --scale 2 --images "$shared/datasets/Set14" --tile $q_tiles
run degradation      benchmarks/degradation.py --rounds $(( q_rep + 2 ))
if (( quick )); then q_parts="$shared/datasets/Set5"; else q_parts="$shared/datasets/B100"; fi
run realistic_components benchmarks/realistic_components.py --dataset "$q_parts" --json "$out/realistic_components.json"
# shellcheck disable=SC2046
run train            benchmarks/train.py --data "$shared/datasets/T91" --val "$shared/datasets/Set5" $(minutes)
# shellcheck disable=SC2046
run bundled_seeds    benchmarks/bundled_seeds.py --data "$shared/datasets/T91" $(minutes) --json "$out/bundled_seeds.json"
# shellcheck disable=SC2046
run photo_candidates benchmarks/photo_candidates.py --data "$shared/datasets/T91" $(minutes) --json "$out/photo_candidates.json"
if (( quick )); then q_req=4; else q_req=20; fi
run serve_load       benchmarks/serve_load.py --threads 1 --requests "$q_req" --json "$out/serve_load.json"
run borders          benchmarks/borders.py --datasets "$shared/datasets/Set5" "$shared/datasets/Set14"
if (( quick )); then q_hspan="--sizes 32,48 --image 64"; else q_hspan="--sizes 96,128 --image 224"; fi
# shellcheck disable=SC2086
run hspan_tiles      benchmarks/hspan_tiles.py $q_hspan
run threads          benchmarks/threads.py --shared "$shared" --iterations 8 --rounds "$q_rep" --competitor 2
echo "outputs in $out/"
