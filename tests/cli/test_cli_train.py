"""Training semantics at the command line: an interrupted run is not a finished one (exit 128 + signal),
and resuming with settings that change the weights is refused or announced, never silent."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import torch

import attnsr.train.loop as loop
from attnsr.cli.main import main
from attnsr.errors import ConfigError
from attnsr.models.checkpoint import read_checkpoint
from attnsr.train import load_config, train
from attnsr.train.checkpoint import find_latest

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "configs" / "rcan" / "cpu_x2.yaml"  # cosine schedule over `iterations`


def _sets(shared: Path, out: Path, iterations: int, **extra: object) -> list[str]:
    sets = {"output_dir": str(out), "iterations": iterations, "progress": False, "log_every": 1,
            "save_every": 1000, "data.hr_dir": str(shared / "datasets" / "T91"), "data.batch_size": 2,
            "data.num_workers": 0, "data.cache": False, "val.hr_dir": "", "data.lr_patch": 12, "threads": 1}
    sets.update(extra)
    return [f"{k}={v}" for k, v in sets.items()]


def _cli(sets: list[str], *extra: str) -> int:
    args = ["train", str(RECIPE), *extra]
    for s in sets:
        args += ["--set", s]
    return main(args)


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupted_run_exits_128_plus_signal(shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture, signum: int, code: int) -> None:
    real_step = loop._one_step

    def step_then_signal(run, lr, hr):  # the signal arrives during iteration 2 of 6
        out = real_step(run, lr, hr)
        if run.iteration == 2:
            os.kill(os.getpid(), signum)
        return out

    monkeypatch.setattr(loop, "_one_step", step_then_signal)
    assert _cli(_sets(shared, tmp_path / "run", 6)) == code
    err = capsys.readouterr().err
    assert f"stopped by {signal.Signals(signum).name} at iteration 2 of 6" in err
    assert find_latest(tmp_path / "run").name == "iter_00000002"
    monkeypatch.setattr(loop, "_one_step", real_step)
    assert _cli(_sets(shared, tmp_path / "run", 6), "--resume") == 0  # finished: 0
    assert find_latest(tmp_path / "run").name == "iter_00000006"


def test_resume_with_changed_settings_refuses_or_announces(shared: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture) -> None:
    train(load_config(RECIPE, _sets(shared, tmp_path / "split", 2)))
    # a longer cosine schedule changes every learning rate: refused, naming the change
    with pytest.raises(ConfigError, match=r"iterations: 2 -> 4.*--accept-changes"):
        train(load_config(RECIPE, _sets(shared, tmp_path / "split", 4)), resume=True)
    assert _cli(_sets(shared, tmp_path / "split", 4, **{"optim.lr": 1e-3}), "--resume") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "iterations: 2 -> 4" in err and "optim.lr: 0.0005 -> 0.001" in err
    # settings that cannot change the weights resume silently
    again = load_config(RECIPE, _sets(shared, tmp_path / "split", 2, log_every=5, save_every=7))
    assert train(again, resume=True).iteration == 2
    capsys.readouterr()
    # accepted: the change is printed with what it means, and it is true
    assert _cli(_sets(shared, tmp_path / "split", 4), "--resume", "--accept-changes") == 0
    err = capsys.readouterr().err
    assert "iterations: 2 -> 4" in err and "no longer bitwise the same" in err
    train(load_config(RECIPE, _sets(shared, tmp_path / "full", 4)))
    a, _ = read_checkpoint(find_latest(tmp_path / "split") / "generator.safetensors")
    b, _ = read_checkpoint(find_latest(tmp_path / "full") / "generator.safetensors")
    assert any(not torch.equal(a[k], b[k]) for k in a)
