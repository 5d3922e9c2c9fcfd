"""Losses, VGG19 loading, AdamP, schedules and EMA against hand-computed truth."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from attnsr.errors import ConfigError
from attnsr.train.config import ScheduleConfig
from attnsr.train.losses import VGG19Features, bce, charbonnier_loss, load_vgg19, relativistic_d, relativistic_g
from attnsr.train.optim import AdamP, ModelEMA, lr_at


def test_charbonnier_matches_formula_and_tends_to_l1() -> None:
    a, b = torch.tensor([0.0, 1.0]), torch.tensor([0.5, 0.0])
    assert charbonnier_loss(a, b, eps=0.1).item() == pytest.approx((math.sqrt(0.26) + math.sqrt(1.01)) / 2)
    assert charbonnier_loss(a, b, eps=1e-6).item() == pytest.approx(F.l1_loss(a, b).item(), abs=1e-5)


def test_relativistic_terms_by_hand() -> None:
    real, fake = torch.tensor([[2.0], [0.0]]), torch.tensor([[1.0], [-1.0]])
    sp = lambda x: math.log1p(math.exp(x))  # noqa: E731  softplus: BCE(x, 1) = sp(-x), BCE(x, 0) = sp(x)
    # real - mean(fake) = [2, 0]; fake - mean(real) = [0, -2]
    g = 0.5 * ((sp(2) + sp(0)) / 2 + (sp(-0) + sp(2)) / 2)
    d = 0.5 * ((sp(-2) + sp(0)) / 2 + (sp(0) + sp(-2)) / 2)
    assert relativistic_g(real, fake).item() == pytest.approx(g, rel=1e-6)
    assert relativistic_d(real, fake).item() == pytest.approx(d, rel=1e-6)
    assert bce(torch.zeros(3), 1.0).item() == pytest.approx(math.log(2))


def test_vgg19_layout_and_weight_loading(tmp_path: Path, random_vgg: Path) -> None:
    net = VGG19Features()
    keys = [k for k in net.state_dict() if k.endswith("weight")]
    assert len(keys) == 16 and keys[-1] == "features.34.weight"  # 16 convs, conv5_4 last, no ReLU after
    assert isinstance(net.features[-1], torch.nn.Conv2d)
    loaded = load_vgg19(random_vgg)
    ref = torch.load(random_vgg, weights_only=True)
    assert torch.equal(loaded.features[34].weight, ref["features.34.weight"])
    assert not any(p.requires_grad for p in loaded.parameters())
    # ImageNet normalisation inside: a [0,1] image equal to the mean gives the conv bias at layer 0
    first = VGG19Features(last=0)
    x = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1).expand(1, 3, 4, 4)
    assert torch.allclose(first(x)[0, :, 1, 1], first.features[0].bias, atol=1e-6)


def test_missing_vgg_weights_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="loss.vgg_weights.*vgg19"):
        load_vgg19("")
    with pytest.raises(ConfigError, match="no such file"):
        load_vgg19(tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    torch.save({"features.0.weight": torch.zeros(1)}, bad)
    with pytest.raises(ConfigError, match="missing"):
        load_vgg19(bad)


def test_adamp_equals_adam_without_scale_invariance_and_projects_otherwise() -> None:
    torch.manual_seed(0)
    # 1-D parameters are never projected: AdamP == Adam
    p1 = torch.randn(5, requires_grad=True)
    p2 = p1.detach().clone().requires_grad_(True)
    o1, o2 = AdamP([p1], lr=0.1), torch.optim.Adam([p2], lr=0.1)
    for _ in range(3):
        g = torch.randn(5)
        p1.grad, p2.grad = g.clone(), g.clone()
        o1.step(), o2.step()
    assert torch.allclose(p1, p2, atol=1e-6)
    # a gradient orthogonal to the weight (scale-invariant parameter): the update has no radial part
    w = torch.randn(4, 3, 3, 3)
    w_param = w.clone().requires_grad_(True)
    grad = torch.randn_like(w)
    flat_w, flat_g = w.reshape(4, -1), grad.reshape(4, -1)
    flat_g -= (flat_g * flat_w).sum(1, keepdim=True) / (flat_w * flat_w).sum(1, keepdim=True) * flat_w
    w_param.grad = flat_g.reshape_as(w)
    AdamP([w_param], lr=0.01).step()
    step = (w_param.detach() - w).reshape(4, -1)
    radial = (step * flat_w).sum(1) / flat_w.norm(dim=1)
    assert radial.abs().max() < 1e-6 * step.norm() + 1e-9
    plain = w.clone().requires_grad_(True)
    plain.grad = w_param.grad.clone()
    torch.optim.Adam([plain], lr=0.01).step()
    adam_radial = ((plain.detach() - w).reshape(4, -1) * flat_w).sum(1) / flat_w.norm(dim=1)
    assert adam_radial.abs().max() > 1e-4  # Adam would have changed the norm


def test_schedules() -> None:
    fsanet = ScheduleConfig("multistep", (150000, 200000, 300000, 400000, 450000, 600000, 600000), 0.5)
    spec = lambda k: 1e-4 * 0.5 ** (k // 150000 + k // 200000)  # noqa: E731  specs/fsanet.md §5, step = k - 1
    for k in (1, 150000, 150001, 200001, 300001, 450001, 600001):
        assert lr_at(1e-4, fsanet, k, 600050) == pytest.approx(spec(k - 1))
    cos = ScheduleConfig("cosine", eta_min=0.0)
    # as torch's CosineAnnealingLR(T_max=total) stepped once per iteration: iteration k uses step k - 1
    assert lr_at(1.0, cos, 1, 100) == 1.0
    assert lr_at(1.0, cos, 51, 100) == pytest.approx(0.5)
    assert 0 < lr_at(1.0, cos, 100, 100) < 1e-3
    assert lr_at(1.0, cos, 500, 100) == pytest.approx(0.0, abs=1e-12)


def test_ema_update_is_the_exponential_average() -> None:
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = ModelEMA(model, 0.9)
    with torch.no_grad():
        model.weight.fill_(1.0)
    ema.update(model, 1000)
    ema.update(model, 1001)
    assert torch.allclose(ema.module.weight, torch.full((1, 2), 1 - 0.9 ** 2))


def test_ema_warm_up_forgets_the_initialisation() -> None:
    model = torch.nn.Linear(2, 1)
    with torch.no_grad():
        model.weight.fill_(0.0)
    ema = ModelEMA(model, 0.999)
    assert ema.decay_at(1) == pytest.approx(2 / 11) and ema.decay_at(10**6) == 0.999
    with torch.no_grad():
        model.weight.fill_(1.0)
    remaining = 1.0
    for k in range(1, 501):
        ema.update(model, k)
        remaining *= ema.decay_at(k)
    assert torch.allclose(ema.module.weight, torch.full((1, 2), 1 - remaining))
    assert remaining < 0.01  # a plain 0.999 decay would still hold 0.999**500 = 0.61 of the init


def test_lpips_perceptual_term_is_the_metric_and_trains_only_the_generator() -> None:
    """loss.perceptual: lpips-alex gives the run a frozen LPIPS whose value is the metric's mean, whose
    gradient reaches the SR image, and which the step adds with its weight."""
    from attnsr.assets import MissingAssetError
    from attnsr.metrics import LPIPSConfig, load_lpips_model
    from attnsr.train.config import config_from_dict
    from attnsr.train.distributed import DistContext
    from attnsr.train.loop import build_run
    from attnsr.train.steps import sr_step

    cfg = config_from_dict({"model": {"name": "srvgg", "scale": 2, "options": {"nf": 8, "num_conv": 2}},
                            "loss": {"perceptual": "lpips-alex", "perceptual_weight": 0.5}})
    try:
        run = build_run(cfg, DistContext(), torch.device("cpu"))
    except MissingAssetError as exc:
        pytest.skip(str(exc))
    assert run.perceptual is not None and not any(p.requires_grad for p in run.perceptual.parameters())
    run.perceptual.train()
    assert not run.perceptual.training
    torch.manual_seed(0)
    hr = torch.rand(2, 3, 40, 40)
    sr = (hr + 0.1 * torch.randn_like(hr)).clamp(0, 1).requires_grad_(True)
    value = run.perceptual(sr, hr)
    with torch.no_grad():
        assert value.item() == pytest.approx(load_lpips_model(LPIPSConfig()).forward(sr, hr).mean().item(), rel=1e-6)
    value.backward()
    assert sr.grad is not None and float(sr.grad.abs().sum()) > 0
    lr = hr[..., ::2, ::2].contiguous()
    with torch.no_grad():
        out = run.generator(lr)
        want = F.l1_loss(out, hr).item() + 0.5 * run.perceptual(out, hr).item()
    parts = sr_step(run.generator, lr, hr, run.opt_g, pixel=F.l1_loss, perceptual=run.perceptual,
                    perceptual_weight=0.5)
    assert parts["total"].item() == pytest.approx(want, rel=1e-5)
    with pytest.raises(ConfigError, match="loss.perceptual"):
        config_from_dict({"loss": {"perceptual": "lpips-squeeze"}})
