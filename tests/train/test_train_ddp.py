"""DDP equivalence: torchrun --nproc_per_node 2 on CPU (gloo) == one process with the combined batch."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from train_helpers import quick_overrides

from attnsr.models.checkpoint import read_checkpoint
from attnsr.train import load_config, train
from attnsr.train.checkpoint import find_latest, load_state

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "configs" / "rcan" / "cpu_x2.yaml"


@pytest.mark.slow  # two torchrun workers plus a reference run: about 30 s of CPU
def test_two_process_gloo_equals_single_process(shared: Path, tmp_path: Path) -> None:
    sets = {"data.batch_size": 4, "data.lr_patch": 12, "threads": 1, "save_every": 3,
            "val.hr_dir": str(shared / "datasets" / "Set5"), "val.every": 2, "val.max_images": 1}
    ddp_sets = quick_overrides(shared, tmp_path / "ddp", iterations=3, **sets)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "attnsr", "train", str(RECIPE)]
    for item in ddp_sets:
        cmd += ["--set", item]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]

    single = load_config(RECIPE, quick_overrides(shared, tmp_path / "single", iterations=3, **sets))
    train(single)

    a = find_latest(tmp_path / "ddp")
    b = find_latest(tmp_path / "single")
    assert a is not None and b is not None and a.name == b.name == "iter_00000003"
    wa, _ = read_checkpoint(a / "generator.safetensors")
    wb, _ = read_checkpoint(b / "generator.safetensors")
    for k in wb:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=1e-5, msg=k)
    # rank 0 validated (at iterations 2 and 3) and saved; its history matches the single process
    ha, hb = load_state(a)["history"], load_state(b)["history"]
    assert [h["iteration"] for h in ha] == [h["iteration"] for h in hb] == [2, 3]
    for x, y in zip(ha, hb):
        assert abs(x["val_psnr"] - y["val_psnr"]) < 1e-3
