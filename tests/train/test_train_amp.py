"""Mixed precision: CUDA only (bf16 / fp16 with a gradient scaler); never on CPU."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from train_helpers import quick_overrides

from attnsr.errors import ConfigError
from attnsr.train import load_config, train

RECIPE = Path(__file__).resolve().parents[2] / "configs" / "rcan" / "cpu_x2.yaml"


@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_amp_is_refused_on_cpu(amp: str, shared: Path, tmp_path: Path) -> None:
    cfg = load_config(RECIPE, quick_overrides(shared, tmp_path, device="cpu", amp=amp))
    with pytest.raises(ConfigError, match="amp: .*CUDA only"):
        train(cfg)


@pytest.mark.gpu
@pytest.mark.parametrize("amp", ["fp16", "bf16"])
def test_amp_trains_on_cuda(amp: str, shared: Path, tmp_path: Path) -> None:
    cfg = load_config(RECIPE, quick_overrides(shared, tmp_path, iterations=3, device="cuda", amp=amp))
    train(cfg)
    losses = [json.loads(x)["total"] for x in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    state = torch.load(next((tmp_path / "checkpoints").glob("iter_*")) / "state.pt", weights_only=True)
    assert ("g" in state["scalers"]) == (amp == "fp16")
