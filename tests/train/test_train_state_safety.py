"""What a resume restores and refuses: the EMA really averages, every global RNG a network may draw from
continues where it stopped, and a training state that would run code is refused before anything runs."""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from train_helpers import quick_overrides

from attnsr.errors import CheckpointError
from attnsr.models.checkpoint import read_checkpoint
from attnsr.train import load_config, train
from attnsr.train.checkpoint import find_latest
from attnsr.train.optim import ModelEMA

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "configs" / "rcan" / "cpu_x2.yaml"
SMALL = {"data.lr_patch": 12, "schedule.kind": "constant"}


def _weights(run: Path, name: str) -> dict[str, torch.Tensor]:
    folder = find_latest(run)
    assert folder is not None
    return read_checkpoint(folder / f"{name}.safetensors")[0]


def test_ema_weights_are_the_warmed_up_average_of_every_step(shared: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The saved EMA equals ModelEMA's formula applied to the generator after each of the 3 steps."""
    seen: list[dict[str, torch.Tensor]] = []
    update = ModelEMA.update

    def spy(self: ModelEMA, model: torch.nn.Module, step: int) -> None:
        seen.append({k: v.detach().clone() for k, v in model.state_dict().items()})
        update(self, model, step)

    monkeypatch.setattr(ModelEMA, "update", spy)
    cfg = load_config(RECIPE, quick_overrides(shared, tmp_path / "run", iterations=3, ema_decay=0.9, **SMALL))
    torch.manual_seed(cfg.seed)
    from attnsr.models import create

    init = create(cfg.model.name, scale=cfg.model.scale, **cfg.model.options).state_dict()
    train(cfg)
    assert len(seen) == 3
    ema, gen = _weights(tmp_path / "run", "ema"), _weights(tmp_path / "run", "generator")
    want = {k: v.double() for k, v in init.items()}
    for step, params in enumerate(seen, start=1):
        d = min(0.9, (1.0 + step) / (10.0 + step))
        want = {k: d * want[k] + (1 - d) * params[k].double() for k in want}
    assert all(torch.allclose(ema[k].double(), want[k], atol=1e-6) for k in want)
    assert any(not torch.allclose(ema[k], gen[k]) for k in gen)  # the average is not the last weights


def test_global_rngs_continue_across_a_resume(shared: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A network that draws from torch's, NumPy's and Python's global RNGs (dropout, noise injection) trains
    the same with a resume in the middle as without: their states are saved and restored."""
    from attnsr.models.rcan import RCAN

    forward = RCAN.forward

    def noisy(self: RCAN, x: torch.Tensor) -> torch.Tensor:
        jitter = float(np.random.uniform(-1, 1)) + random.uniform(-1, 1)
        return forward(self, x) + 1e-2 * torch.randn_like(x).mean() + 1e-2 * jitter

    monkeypatch.setattr(RCAN, "forward", noisy)
    train(load_config(RECIPE, quick_overrides(shared, tmp_path / "full", iterations=4, **SMALL)))
    train(load_config(RECIPE, quick_overrides(shared, tmp_path / "split", iterations=2, **SMALL)))
    torch.manual_seed(123), np.random.seed(123), random.seed(123)  # a new process starts elsewhere
    train(load_config(RECIPE, quick_overrides(shared, tmp_path / "split", iterations=4, **SMALL)), resume=True)
    full, split = _weights(tmp_path / "full", "generator"), _weights(tmp_path / "split", "generator")
    assert all(torch.equal(full[k], split[k]) for k in full)


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # a pickle that would create a file if it were ever unpickled
        return (os.system, (f"touch {self.marker}",))


def test_a_training_state_that_would_run_code_is_refused(shared: Path, tmp_path: Path) -> None:
    cfg = load_config(RECIPE, quick_overrides(shared, tmp_path / "run", iterations=1, **SMALL))
    train(cfg)
    folder = find_latest(tmp_path / "run")
    assert folder is not None
    marker = tmp_path / "pwned"
    state = torch.load(folder / "state.pt", weights_only=True)
    torch.save({**state, "extra": _Payload(marker)}, folder / "state.pt")
    longer = load_config(RECIPE, quick_overrides(shared, tmp_path / "run", iterations=2, **SMALL))
    with pytest.raises(CheckpointError, match="state.pt: cannot read training state"):
        train(longer, resume=True)
    assert not marker.exists()
