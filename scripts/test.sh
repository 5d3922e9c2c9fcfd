#!/usr/bin/env bash
# Set everything up (a venv in .venv with the CPU torch 2.13.0 wheel) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
.venv/bin/python -m pytest -q "$@"
