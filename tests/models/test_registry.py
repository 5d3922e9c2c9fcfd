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


OFFICIAL_COUNTS = [(name, s) for name, e in ENTRIES.items() for s in e.official_params]


@pytest.mark.parametrize("name,scale", OFFICIAL_COUNTS, ids=[f"{n}-x{s}" for n, s in OFFICIAL_COUNTS])
def test_official_params_are_the_trainable_parameters_of_the_official_config(name: str, scale: int) -> None:
    """One meaning for every entry: ``official_params`` = trainable parameters (frozen ones excluded)."""
    with torch.device("meta"):
        model = create(name, scale=scale)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == ENTRIES[name].official_params[scale]


#: detectors that refuse a key outside their layout (the file is then "not recognised" as that network)
STRICT_LAYOUT = {"rcan", "dfsa", "dfsa_edsr", "srvgg"}
#: reduced configurations that the detector cannot tell from another variant: the official one is used
OFFICIAL_SIZE = {"defian_l", "dfsa_edsr"}


@pytest.mark.parametrize("name", list(ENTRIES))
def test_a_broken_state_dict_gets_one_error_listing_every_problem(name: str) -> None:
    """A missing key, a mis-shaped one and (where the layout allows) an unexpected one, all in one line
    that names the source and each key."""
    from attnsr.errors import CheckpointError
    from attnsr.models import from_official

    entry = ENTRIES[name]
    scale = entry.scales[0] if entry.role == "generator" else None
    torch.manual_seed(0)
    model = create(name, scale=scale or 1, **({} if name in OFFICIAL_SIZE else REDUCED.get(name, {})))
    sd = dict(model.state_dict())
    keys = list(sd)
    bias = next(k for k in keys[len(keys) // 2:] if k.endswith(".bias"))
    convs = [k for k in keys[len(keys) // 2:] if sd[k].dim() == 4 and k != bias[:-4] + "weight"]
    weight = next((k for k in convs if k.endswith("0.weight")), convs[0])  # a plain conv where there is one
    from_official(dict(sd), arch=name, scale=scale)  # the intact dict loads
    broken = dict(sd)
    del broken[bias]
    o, i, kh, kw = sd[weight].shape
    broken[weight] = torch.zeros(o, i, kh + 2, kw + 2)
    extra = bias[:-4] + "extra"
    if name not in STRICT_LAYOUT:
        broken[extra] = torch.zeros(1)
    with pytest.raises(CheckpointError) as err:
        from_official(broken, arch=name, scale=scale)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("checkpoint") and name.split("_")[0] in msg.lower()
    assert f"missing 1: ['{bias}']" in msg
    assert f"mis-shaped 1: ['{weight}: checkpoint {(o, i, kh + 2, kw + 2)} vs model {(o, i, kh, kw)}']" in msg
    if name not in STRICT_LAYOUT:
        assert f"unexpected 1: ['{extra}']" in msg
    else:
        broken[extra] = torch.zeros(1)
        with pytest.raises(CheckpointError, match=f"not recognised as a {name} checkpoint"):
            from_official(broken, arch=name, scale=scale)
