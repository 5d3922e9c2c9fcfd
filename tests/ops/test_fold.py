"""fold_for_inference: same outputs, no weight norm left, the input model untouched, all three weight-norm
flavours (ours, the legacy hook, torch.nn.utils.parametrizations)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch
from conformance import load_vector
from torch import nn

from attnsr.models import from_official
from attnsr.ops.fold import fold_for_inference
from attnsr.ops.weight_norm import WNConv2d


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _small_net(kind: str) -> nn.Sequential:
    torch.manual_seed(0)
    convs = [nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4)]
    if kind == "legacy":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # the deprecated API is what we must handle
            convs = [torch.nn.utils.weight_norm(c) for c in convs]
    elif kind == "parametrizations":
        convs = [torch.nn.utils.parametrizations.weight_norm(c) for c in convs]
    elif kind == "ours":
        convs = [WNConv2d(3, 8, 3, padding=1), WNConv2d(8, 8, 3, padding=2, dilation=2, groups=4)]
    net = nn.Sequential(convs[0], nn.ReLU(), convs[1])
    with torch.no_grad():  # move g away from ||v|| so the fold has something to fold
        for name, p in net.named_parameters():
            if name.endswith(("weight_g", "original0")):
                p.mul_(torch.linspace(0.5, 2.0, p.shape[0]).view(-1, 1, 1, 1))
    return net


@pytest.mark.parametrize("kind", ["ours", "legacy", "parametrizations"])
def test_fold_small_nets(kind: str) -> None:
    net = _small_net(kind).train()
    x = torch.rand(2, 3, 11, 9, generator=torch.Generator().manual_seed(1))
    before = _snapshot(net)
    expected = net(x).detach()
    folded = fold_for_inference(net)
    assert (folded(x) - expected).abs().max().item() <= 1e-6
    # plain convolutions only: a single `weight` per conv, no g/v, no hooks, no parametrizations
    assert all(type(m) in (nn.Conv2d, nn.ReLU, nn.Sequential) for m in folded.modules())
    assert all(not m._forward_pre_hooks for m in folded.modules())
    assert sorted(folded.state_dict()) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    assert not folded.training and not any(p.requires_grad for p in folded.parameters())
    # the input model is untouched and still trains
    assert net.training and sorted(_snapshot(net)) == sorted(before)
    assert all(torch.equal(v, before[k]) for k, v in _snapshot(net).items())
    net(x).sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_fold_weight_norm_g_sign_and_scale() -> None:
    # Independent formula: w = v * g / ||v|| per output channel (g may be negative, as in the fill rule).
    conv = WNConv2d(4, 6, 3, padding=1)
    with torch.no_grad():
        conv.weight_g.copy_(torch.tensor([-2.0, 1.0, 0.5, 3.0, -0.1, 1.5]).view(6, 1, 1, 1))
    plain = fold_for_inference(conv)
    v = conv.weight_v.detach()
    expected = v * conv.weight_g.detach() / v.flatten(1).norm(dim=1).view(-1, 1, 1, 1)
    assert isinstance(plain, nn.Conv2d)
    assert torch.allclose(plain.weight, expected, atol=1e-6)


def test_fold_fsanet_matches_conformance_vector(shared: Path) -> None:
    vec = load_vector(shared / "conformance" / "fsanet" / "x2_case1.pt")
    model = from_official(vec["weights"], arch="fsanet")
    folded = fold_for_inference(model)
    assert not any(isinstance(m, WNConv2d) for m in folded.modules())
    assert not any(k.endswith(("weight_g", "weight_v")) for k in folded.state_dict())
    assert folded.scale == model.scale and folded.attnsr_config == model.attnsr_config
    with torch.no_grad():
        out_folded, out = folded(vec["input"]), model(vec["input"])
    assert (out_folded - out).abs().max().item() <= 1e-5
    assert (out_folded - vec["output"]).abs().max().item() <= 1e-5
    assert any(k.endswith("weight_g") for k in model.state_dict())  # original keeps its weight norm
