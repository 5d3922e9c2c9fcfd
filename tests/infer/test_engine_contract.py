"""Upscaler leaves the caller's model untouched; EngineOptions and the scale are validated."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from attnsr.errors import ConfigError
from attnsr.infer.engine import EngineOptions, Upscaler
from attnsr.models import create
from attnsr.ops.weight_norm import WNConv2d


def _snapshot(model: nn.Module) -> dict:
    return {
        "training": [m.training for m in model.modules()],
        "params": [(n, p.device, p.dtype, p.requires_grad, p.stride(), p.data_ptr(), p.detach().clone())
                   for n, p in model.named_parameters()],
        "buffers": [(n, b.device, b.stride(), b.detach().clone()) for n, b in model.named_buffers()],
        "modules": [type(m) for m in model.modules()],
    }


def _same(a: dict, b: dict) -> bool:
    if a["training"] != b["training"] or a["modules"] != b["modules"]:
        return False
    for x, y in zip(a["params"] + a["buffers"], b["params"] + b["buffers"]):
        if x[:-1] != y[:-1] or not torch.equal(x[-1], y[-1]):
            return False
    return len(a["params"]) == len(b["params"]) and len(a["buffers"]) == len(b["buffers"])


class WNNet(nn.Module):
    """Weight norm (folded by the engine) and a frozen parameter, with a recorded scale."""

    scale = 2

    def __init__(self) -> None:
        super().__init__()
        self.conv = WNConv2d(3, 12, 3, padding=1)
        self.frozen = nn.Conv2d(12, 12, 1)
        self.frozen.requires_grad_(False)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.frozen(self.conv(x)))


@pytest.mark.parametrize("fold", [True, False])
@pytest.mark.parametrize("channels_last", [True, False])
@pytest.mark.parametrize("make", [WNNet, lambda: create("rcan", scale=2, n_feats=8, n_resgroups=1,
                                                         n_resblocks=1, reduction=4)])
def test_the_callers_model_is_left_as_it_was(fold: bool, channels_last: bool, make) -> None:
    torch.manual_seed(0)
    model = make().train()
    before = _snapshot(model)
    reference = copy.deepcopy(model).eval()
    engine = Upscaler(model, device="cpu", fold=fold, tile=0, channels_last=channels_last, border="none")
    x = torch.rand(1, 3, 12, 10)
    out = engine.upscale(x[0])
    assert _same(before, _snapshot(model))
    assert engine.model is not model and not engine.model.training
    assert not any(p.requires_grad for p in engine.model.parameters())
    with torch.no_grad():
        torch.testing.assert_close(out, reference(x)[0], rtol=1e-5, atol=1e-5)
    model(x).sum().backward()  # the caller's model still trains: gradients reach every trainable parameter
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)


@pytest.mark.parametrize("field, value", [
    ("tile", -5), ("tile", 2.5), ("overlap", -1), ("batch", 0), ("self_ensemble", "yes"), ("precision", "fp64"),
    ("channels_last", 1), ("compile", None), ("memory_fraction", 0.0), ("memory_fraction", 1.5),
    ("cpu_budget_bytes", 0), ("cpu_max_tile", 8), ("live_activations", 0),
])
def test_engine_options_refuse_bad_values_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=rf"EngineOptions\.{field}: expected"):
        EngineOptions(**{field: value})
    with pytest.raises(ConfigError, match=rf"EngineOptions\.{field}"):
        Upscaler(WNNet(), device="cpu", **{field: value})


def test_good_options_and_unknown_names() -> None:
    EngineOptions(tile=0, overlap=0, batch=1, precision="bf16", channels_last=None, memory_fraction=1)
    with pytest.raises(ConfigError, match="unknown option.*tiles"):
        Upscaler(WNNet(), device="cpu", tiles=64)


def test_scale_is_checked_against_the_model() -> None:
    model = create("rcan", scale=2, n_feats=8, n_resgroups=1, n_resblocks=1, reduction=4)
    assert Upscaler(model, device="cpu", scale=2).scale == 2
    with pytest.raises(ConfigError, match=r"scale: asked x3, but the model \(rcan\) is x2"):
        Upscaler(model, device="cpu", scale=3)
    with pytest.raises(ConfigError, match="scale"):
        Upscaler(model, device="cpu", scale=0)
    foreign = nn.Sequential(nn.Conv2d(3, 12, 3, padding=1), nn.PixelShuffle(2))
    assert Upscaler(foreign, device="cpu", scale=2).scale == 2  # no recorded scale: the caller's


@pytest.mark.gpu
@pytest.mark.parametrize("fold", [True, False])
def test_a_cpu_model_stays_on_the_cpu_when_the_engine_runs_on_cuda(fold: bool) -> None:
    torch.manual_seed(0)
    model = WNNet().train()
    before = _snapshot(model)
    engine = Upscaler(model, device="cuda", fold=fold, tile=0)
    out = engine.upscale(torch.rand(3, 12, 10))
    assert out.shape == (3, 24, 20) and next(engine.model.parameters()).device.type == "cuda"
    assert _same(before, _snapshot(model))
