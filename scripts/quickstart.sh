#!/usr/bin/env bash
# Set everything up (.venv with the CPU torch 2.13.0 wheel, attnsr installed) and upscale the bundled
# sample image x2 with the bundled default model, plus a bicubic | attnsr comparison.
# Usage: bash scripts/quickstart.sh [OUTPUT_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out="${1:-out}"
.venv/bin/attnsr upscale attnsr/assets/sample.png -o "$out" --compare --overwrite
echo "Done: $out/sample_x2.png and $out/sample_x2_compare.png (bicubic | attnsr)"
