#!/usr/bin/env bash
# Set everything up (.venv with the CPU torch 2.13.0 wheel, attnsr installed) and upscale the bundled
# sample image x4. Usage: bash scripts/quickstart.sh [OUTPUT.png]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out="${1:-out/sample_x4.png}"
.venv/bin/attnsr upscale attnsr/assets/sample.png --model bicubic --scale 4 -o "$out"
echo "Done: $out (bicubic baseline; trained models will be selectable with --model)"
