#!/usr/bin/env bash
# Create .venv, install torch 2.13.0 first (CPU wheel; see README for CUDA), then attnsr and its extras.
# Usage: bash scripts/setup.sh [EXTRAS]   e.g. "test" or "test,onnx"
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check "torch==2.13.0"
if [ -n "$extras" ]; then
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]"
else
  .venv/bin/python -m pip install -q --disable-pip-version-check -e .
fi
