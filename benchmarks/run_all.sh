#!/usr/bin/env bash
# Run every benchmark once on a quiet machine and keep the outputs under out/bench/ (docs/benchmarks.md
# quotes them). About 15 minutes on a 2-core CPU. Usage: bash benchmarks/run_all.sh [SHARED_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
shared="${1:-../shared}"
out=out/bench
mkdir -p "$out"
py=.venv/bin/python
$py benchmarks/infer.py --size 64 --json "$out/infer.json" | tee "$out/infer.txt"
$py benchmarks/upscale_memory.py --size 4000x3000 --json "$out/upscale_memory.json" | tee "$out/upscale_memory.txt"
$py benchmarks/upscale_memory.py --size 1000x1000 --json "$out/upscale_1mp.json" | tee "$out/upscale_1mp.txt"
$py benchmarks/fold.py --threads 2 --repeats 5 | tee "$out/fold.txt"
$py benchmarks/hspan_attention.py --repeats 2 --mem-size 0 | tee "$out/hspan_attention.txt"
$py benchmarks/serve_load.py --threads 1 --json "$out/serve_load.json" | tee "$out/serve_load.txt"
$py benchmarks/tiling.py --model default --scale 2 --images "$shared/datasets/Set14" | tee "$out/tiling.txt"
