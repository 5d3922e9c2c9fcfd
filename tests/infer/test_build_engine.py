"""``attnsr.infer.resolve.build_engine``: a model name and typed EngineOptions -> a ready engine."""

from __future__ import annotations

import pytest
import torch

from attnsr.errors import ConfigError
from attnsr.infer.engine import EngineOptions
from attnsr.infer.resolve import Bicubic, CountingChop, build_engine


def test_options_and_scale_reach_the_engine() -> None:
    engine, resolved = build_engine("bicubic", scale=3, device="cpu", threads=2,
                                    options=EngineOptions(tile=0, overlap=4, border="none", precision="fp32"))
    assert isinstance(resolved.model, Bicubic) and resolved.label == "bicubic" and engine.scale == 3
    assert (engine.options.tile, engine.options.overlap, engine.options.border) == (0, 4, "none")
    assert torch.get_num_threads() == 2  # the conftest runs tests with 1
    assert engine.chop is None


def test_bad_threads_and_chop_without_an_official_one_are_refused() -> None:
    with pytest.raises(ConfigError, match="--threads"):
        build_engine("bicubic", scale=2, device="cpu", threads=-1)
    with pytest.raises(ConfigError, match="no official chopped forward"):
        build_engine("bicubic", scale=2, device="cpu", chop=True)


def test_counting_chop_reports_each_forward() -> None:
    seen: list[int] = []
    net = torch.nn.Conv2d(3, 3, 1)

    def two_crops(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([model(x[..., :2]), model(x[..., 2:])], dim=-1)

    chop = CountingChop(two_crops)
    chop.progress = seen.append
    y = chop(net, torch.zeros(1, 3, 4, 4))
    assert y.shape == (1, 3, 4, 4) and seen == [1, 1]
    assert not net._forward_hooks  # the hook is removed again
