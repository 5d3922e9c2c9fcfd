"""A process SIGKILLed while writing a checkpoint never corrupts the latest complete checkpoint."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import torch

from attnsr.models.checkpoint import read_checkpoint
from attnsr.train.checkpoint import find_latest, load_state, save_checkpoint

# Saves checkpoint i with every weight equal to i, forever; prints "saved i" after each.
WRITER = textwrap.dedent("""
    import sys, torch
    from attnsr.models import create
    from attnsr.train.checkpoint import save_checkpoint
    torch.set_num_threads(1)
    model = create("rcan", scale=2, n_resgroups=2, n_resblocks=4, n_feats=64, reduction=16)
    i = int(sys.argv[2])
    while True:
        with torch.no_grad():
            for p in model.parameters():
                p.fill_(float(i))
        save_checkpoint(sys.argv[1], i, models={"generator": model}, state={"value": i},
                        config_text="value: %d\\n" % i, keep_last=2)
        print("saved", i, flush=True)
        i += 1
""")


def _check_latest(out: Path) -> int:
    folder = find_latest(out)
    assert folder is not None
    state = load_state(folder)
    tensors, meta = read_checkpoint(folder / "generator.safetensors")
    value = state["value"]
    assert state["iteration"] == value == int(meta["iteration"])
    assert (folder / "config.yaml").read_text() == f"value: {value}\n"
    params = [v for k, v in tensors.items() if "mean" not in k]  # MeanShift buffers are not filled
    assert all(torch.all(v == value) for v in params if v.dtype.is_floating_point)
    return value


def test_sigkill_during_save_keeps_latest_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    start = 1
    for delay in (0.0, 0.1):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(out), str(start)], stdout=subprocess.PIPE,
                                text=True, env=env)
        try:
            line = proc.stdout.readline()  # one complete save, then kill at some point of the next ones
            assert line.startswith("saved"), line
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=60)
            proc.stdout.close()
        value = _check_latest(out)
        assert value >= start
        start = value + 1
    # a later save in this process cleans the debris of killed saves and keeps the last two
    save_checkpoint(out, start, models={}, state={"value": start}, config_text=f"value: {start}\n", keep_last=2)
    names = sorted(p.name for p in (out / "checkpoints").iterdir())
    assert not [n for n in names if n.startswith(".tmp-")], names
    assert len([n for n in names if n.startswith("iter_")]) == 2
    assert load_state(find_latest(out))["value"] == start


def test_sigterm_stops_training_with_a_checkpoint(shared: Path, tmp_path: Path) -> None:
    from train_helpers import quick_overrides

    repo = Path(__file__).resolve().parents[2]
    out = tmp_path / "run"
    sets = quick_overrides(shared, out, iterations=100000, **{"data.lr_patch": 12, "threads": 1})
    cmd = [sys.executable, "-m", "attnsr", "train", str(repo / "configs/rcan/cpu_x2.yaml")]
    for s in sets:
        cmd += ["--set", s]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    log = out / "train_log.jsonl"
    deadline = time.time() + 120
    while not (log.is_file() and log.read_text().count("\n") >= 2) and time.time() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, output  # interrupted, not finished: 143
    folder = find_latest(out)
    assert folder is not None and int(folder.name.split("_")[1]) >= 2
    assert "stopped at iteration" in output
