"""The light version of benchmarks/serve_load.py: ``attnsr serve`` started by its CLI on loopback, 4
concurrent requests, every output equal to the library's, bounded memory, a clean exit on SIGTERM that
leaves nothing in its temp folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_cli_server_under_light_concurrent_load(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, str(REPO / "benchmarks" / "serve_load.py"), "--requests", "4", "--size",
                          "48", "--sequential", "1", "--threads", "1", "--max-growth-mib", "256", "--json", str(out)],
                         check=False, capture_output=True, text=True, timeout=300, env=env, cwd=REPO)
    assert run.returncode == 0, run.stdout + run.stderr
    result = json.loads(out.read_text())
    assert result["failures"] == [] and result["server_exit"] == -15  # uvicorn re-raises SIGTERM after shutdown
    assert result["outputs_checked"] == 5 and result["max_abs_diff"] <= 1
    assert result["retries_503"] == 0 and result["burst_growth_mib"] < 256
