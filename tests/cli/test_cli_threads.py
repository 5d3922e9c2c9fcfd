"""Thread defaults that do not collapse on a busy machine: OpenMP's idle threads sleep, and the automatic
thread count leaves out the cores other processes keep busy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attnsr.cli.main import main
from attnsr.threads import default_threads

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("load", "cores", "want"), [(0.0, 2, 2), (0.3, 2, 2), (0.6, 2, 1), (1.0, 2, 1),
                                                    (4.0, 2, 1), (1.2, 8, 7), (0.0, 1, 1), (30.0, 16, 1)])
def test_default_threads_leave_busy_cores_alone(load: float, cores: int, want: int) -> None:
    assert default_threads(load=load, cores=cores) == want


@pytest.mark.parametrize(("argv", "env", "want"), [
    (["train", "--help"], {}, "PASSIVE"),
    (["train", "--help"], {"OMP_WAIT_POLICY": "ACTIVE"}, "ACTIVE"),
    (["train", "--help"], {"ATTNSR_THREAD_DEFAULTS": "torch"}, "<unset>"),
    (["upscale", "--help"], {}, "<unset>"),  # long parallel regions: spinning measured faster
])
def test_train_sets_a_passive_wait_policy_before_torch_starts(argv: list[str], env: dict[str, str],
                                                             want: str) -> None:
    code = ("import os, sys\nfrom attnsr.cli.main import main\ntry:\n"
            f"    main({argv!r})\n"
            "except SystemExit:\n    pass\nprint(os.environ.get('OMP_WAIT_POLICY', '<unset>'), 'torch' in sys.modules)")
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "ATTNSR_THREAD_DEFAULTS")}
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**base, **env}, capture_output=True,
                          text=True, timeout=60)
    assert proc.stdout.strip().splitlines()[-1] == f"{want} False", proc.stderr


@pytest.mark.parametrize(("load", "want"), [(0.0, 2), (3.5, 1)])
def test_upscale_threads_follow_the_load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, load: float,
                                        want: int) -> None:
    src = tmp_path / "a.png"
    Image.fromarray(np.full((6, 6, 3), 50, np.uint8)).save(src)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("ATTNSR_THREAD_DEFAULTS", raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    before = torch.get_num_threads()
    try:
        assert main(["upscale", str(src), "-o", str(tmp_path / f"o{want}.png"), "--model", "bicubic",
                     "--no-progress"]) == 0
        assert torch.get_num_threads() == want
        assert main(["upscale", str(src), "-o", str(tmp_path / f"p{want}.png"), "--model", "bicubic",
                     "--threads", "1", "--no-progress"]) == 0
        assert torch.get_num_threads() == 1  # an explicit count wins
    finally:
        torch.set_num_threads(before)


def test_training_threads_follow_the_load(shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from attnsr.train import load_config, train

    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.delenv("ATTNSR_THREAD_DEFAULTS", raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (2.6, 2.6, 2.6))
    monkeypatch.setattr(os, "sched_getaffinity", lambda _pid: {0, 1})
    torch.set_num_threads(2)
    sets = [f"output_dir={tmp_path / 'run'}", "iterations=1", "progress=false", "data.lr_patch=12",
            "data.batch_size=2", f"data.hr_dir={shared / 'datasets' / 'T91'}", "data.num_workers=0",
            "data.cache=false", "val.hr_dir="]
    train(load_config(REPO / "configs" / "defian" / "cpu_x2.yaml", sets))
    assert torch.get_num_threads() == 1
