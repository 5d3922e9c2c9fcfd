"""GAN steps (spec fasrgan.md §5): one D step lowers the D loss on a fixed batch, one G step lowers the
G loss; the Fs-SRGAN extractor is shared and moved by both optimisers."""

from __future__ import annotations

import functools

import pytest
import torch

from attnsr.models import create
from attnsr.train.config import GanConfig
from attnsr.train.loop import _share_extractor
from attnsr.train.losses import PerceptualLoss, VGG19Features
from attnsr.train.steps import GanNets, Precision, backward_and_step, discriminator_loss, gan_step, generator_loss

NETS = {
    "fasrgan": (("fasrgan", dict(nf=8, nb=1)), ("fasrgan_unet", dict(nf=4, patch_size=32, fc_hidden=8))),
    "fssrgan": (("fssrgan", dict(nf=8, nb_e=1, nb_g=1)),
                ("fssrgan_vgg192", dict(nf=8, nb_e=1, base_nf=4, patch_size=32, n_stages=3, fc_hidden=8))),
    "fafssrgan": (("fafssrgan", dict(nf=8, nb_e=2, nb_g=1)),
                  ("fafssrgan_unet", dict(nf=8, nb_e=2, d_nf=4, patch_size=32, fc_hidden=8))),
}


@functools.lru_cache(maxsize=1)
def _perceptual() -> PerceptualLoss:
    torch.manual_seed(1)
    return PerceptualLoss(VGG19Features())  # random weights: the real ones cannot be downloaded here


def _setup(name: str) -> tuple[GanNets, torch.Tensor, torch.Tensor, PerceptualLoss]:
    torch.manual_seed(0)
    (g_name, g_opts), (d_name, d_opts) = NETS[name]
    gen = create(g_name, scale=4, **g_opts).train()
    disc = create(d_name, **d_opts).train()
    _share_extractor(gen, disc)
    hr = torch.rand(2, 3, 32, 32)
    lr = torch.nn.functional.avg_pool2d(hr, 4)
    return GanNets(gen, disc), lr, hr, _perceptual()


@pytest.mark.parametrize("name", sorted(NETS))
def test_one_d_step_lowers_d_loss(name: str) -> None:
    nets, lr, hr, _ = _setup(name)
    with torch.no_grad():
        sr = nets.generator(lr)
    opt_d = torch.optim.Adam(nets.discriminator.parameters(), lr=1e-4)
    before = discriminator_loss(nets, sr, hr)
    opt_d.zero_grad()
    backward_and_step(before["d_total"], opt_d, precision=Precision())
    after = discriminator_loss(nets, sr, hr)
    assert after["d_total"] < before["d_total"]
    assert ("d_map" in before) == (name != "fssrgan")  # U-Net discriminators add the per-pixel BCE


@pytest.mark.parametrize("name", sorted(NETS))
def test_one_g_step_lowers_g_loss(name: str) -> None:
    nets, lr, hr, perceptual = _setup(name)
    cfg = GanConfig(enabled=True, discriminator="x")
    d_before = {k: v.clone() for k, v in nets.discriminator.state_dict().items()}
    opt_g = torch.optim.Adam(nets.generator.parameters(), lr=1e-4)
    _, before = generator_loss(nets, lr, hr, cfg, perceptual=perceptual)
    opt_g.zero_grad()
    backward_and_step(before["total"], opt_g, precision=Precision())
    d_params = {id(p) for p in nets.discriminator_only()}
    assert all(p.grad is None for p in nets.discriminator.parameters() if id(p) in d_params)
    _, after = generator_loss(nets, lr, hr, cfg, perceptual=perceptual)
    assert after["total"] < before["total"]
    assert set(before) >= {"pix", "fea", "adv"}
    if name != "fssrgan":
        assert {"map", "att"} <= set(before)
    # D's own weights did not move (only its BN running statistics may)
    for k, v in nets.discriminator.state_dict().items():
        if "running" not in k and "num_batches" not in k and not k.startswith("E."):
            assert torch.equal(v, d_before[k]), k


def test_shared_extractor_is_updated_by_both_optimisers() -> None:
    nets, lr, hr, perceptual = _setup("fssrgan")
    assert nets.discriminator.E is nets.generator.E
    e_param = next(nets.generator.E.parameters())
    opt_g = torch.optim.Adam(nets.generator.parameters(), lr=1e-3)
    opt_d = torch.optim.Adam(nets.discriminator.parameters(), lr=1e-3)
    start = e_param.detach().clone()
    gan_step(nets, lr, hr, GanConfig(enabled=True, discriminator="x"), opt_g=opt_g, opt_d=opt_d,
             perceptual=perceptual)
    assert e_param in [p for g in opt_g.param_groups for p in g["params"]]
    assert e_param in [p for g in opt_d.param_groups for p in g["params"]]
    assert opt_g.state[e_param]["step"] == 1 and opt_d.state[e_param]["step"] == 1
    # two Adam steps of size ~lr each: the move exceeds what one step could do on some entry
    assert (e_param.detach() - start).abs().max() > 1.5e-3
