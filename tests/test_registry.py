"""Registry-wide checks: every network x scale builds, runs forward and backward at odd, non-square
sizes, and every trainable parameter receives a gradient."""

from __future__ import annotations

import pytest
import torch

from attnsr.models import all_entries, create

ENTRIES = all_entries()
GENERATORS = [(name, s) for name, e in ENTRIES.items() if e.role == "generator" for s in e.scales]

# Depth reduced (widths and every block type kept) so forward+backward of all networks x scales stays
# cheap; the official configurations' parameter counts are checked in each network's own tests.
REDUCED: dict[str, dict] = {
    "fsanet": {"n_blocks": 1},
    "hspan": {"n_resgroups": 2, "n_resblocks": 1},
    "defian_s": {"n_modules": 2, "n_blocks": 2},
    "defian_l": {"n_modules": 2, "n_blocks": 2},
    "rcan": {"n_resgroups": 2, "n_resblocks": 2},
    "dfsa": {"n_resgroups": 2, "n_resblocks": 2},
    "dfsa_edsr": {"n_resblocks": 2},
    "rrdbnet": {"nb": 1},
    "srvgg": {"num_conv": 2},
    "fasrgan": {"nb": 1},
    "fssrgan": {"nb_g": 1},
    "fafssrgan": {"nb_g": 1},
}


def _small_input(h: int, w: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(h * 100 + w)
    return torch.rand(1, 3, h, w, generator=g)


@pytest.mark.parametrize("name,scale", GENERATORS, ids=[f"{n}-x{s}" for n, s in GENERATORS])
def test_generator_forward_backward_odd_sizes(name: str, scale: int) -> None:
    torch.manual_seed(0)
    model = create(name, scale=scale, **REDUCED.get(name, {})).train()
    for h, w in ((13, 11), (9, 17)):
        model.zero_grad(set_to_none=True)
        x = _small_input(h, w)
        y = model(x)
        assert y.shape == (1, 3, h * scale, w * scale), f"{name} x{scale}: {tuple(y.shape)} for {h}x{w}"
        assert torch.isfinite(y).all()
        y.square().mean().backward()
        missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
        assert not missing, f"{name} x{scale}: no gradient for {missing[:5]}"


def test_every_generator_has_a_reduced_test_config() -> None:
    assert {n for n, _ in GENERATORS} <= set(REDUCED), "add new generators to REDUCED"


@pytest.mark.parametrize("name", list(ENTRIES))
def test_official_parameter_counts_are_declared(name: str) -> None:
    entry = ENTRIES[name]
    assert entry.official_params, f"{name}: ENTRIES must carry the official parameter counts"
    assert set(entry.official_params) <= set(entry.scales) | {1}


def test_create_rejects_unknown_names_and_keys() -> None:
    with pytest.raises(KeyError, match="unknown network 'nope'"):
        create("nope", scale=2)
    first = next(iter(ENTRIES))
    with pytest.raises(TypeError, match="unknown config key"):
        create(first, scale=ENTRIES[first].scales[0], not_a_field=1)


DISCRIMINATORS = [name for name, e in ENTRIES.items() if e.role == "discriminator"]
# Narrower and at a smaller patch (the score heads take one fixed patch size, set by the config).
REDUCED_D: dict[str, dict] = {
    "fasrgan_unet": {"nf": 16, "patch_size": 64, "fc_hidden": 32},
    "fssrgan_vgg192": {"nf": 16, "base_nf": 16, "patch_size": 64, "n_stages": 4, "fc_hidden": 16},
    "fafssrgan_unet": {"nf": 16, "d_nf": 16, "patch_size": 64, "fc_hidden": 32},
}


@pytest.mark.parametrize("name", DISCRIMINATORS)
def test_discriminator_forward_backward_at_its_patch_size(name: str) -> None:
    assert name in REDUCED_D, "add new discriminators to REDUCED_D"
    torch.manual_seed(0)
    model = create(name, **REDUCED_D[name]).train()
    patch = model.attnsr_config.patch_size
    out = model(torch.rand(2, 3, patch, patch))
    outs = out if isinstance(out, tuple) else (out,)
    assert outs[0].shape == (2, 1), f"{name}: global score shape {tuple(outs[0].shape)}"
    sum(o.float().mean() for o in outs).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"{name}: no gradient for {missing[:5]}"
    with pytest.raises(ValueError):
        model(torch.rand(1, 3, patch + 8, patch))
