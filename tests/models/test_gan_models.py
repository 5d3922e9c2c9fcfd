"""RRDBNet / FASRGAN / Fs-SRGAN / FA+Fs-SRGAN: conformance vectors, official key lists, parameter counts,
detection and the shared-extractor pairing (spec shared/specs/fasrgan.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from conformance import load_vector

from attnsr.errors import ConfigError
from attnsr.models import create, fasrgan, from_official, fssrgan, get_entry, load_model, rrdbnet, save_model

# vector file -> the entry automatic detection must choose
VECTORS = {
    "fasrgan_G_x4_case1.pt": "rrdbnet",
    "fasrgan_D_case1.pt": "fasrgan_unet",
    "fssrgan_G_x4_case1.pt": "fssrgan",
    "fssrgan_D_case1.pt": "fssrgan_vgg192",
    "fafssrgan_G_x4_case1.pt": "fssrgan",
    "fafssrgan_D_case1.pt": "fafssrgan_unet",
}
OUR_ENTRIES = ("rrdbnet", "fasrgan", "fasrgan_unet", "fssrgan", "fafssrgan", "fssrgan_vgg192", "fafssrgan_unet")
TOL = 1e-5


def _vector(shared: Path, name: str) -> dict[str, Any]:
    return load_vector(shared / "conformance" / "fasrgan" / name)


def _flat_weights(vec: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The vector's weights as one flat official-style dict (per-network parts joined as E.*/G.*/D.*)."""
    w = vec["weights"]
    return fssrgan.join_parts(**w) if "E" in w else w


def _max_diff(out: Any, ref: Any) -> float:
    if isinstance(ref, (tuple, list)):
        assert isinstance(out, tuple) and len(out) == len(ref)
        return max(_max_diff(o, r) for o, r in zip(out, ref))
    assert out.shape == ref.shape, f"{tuple(out.shape)} vs {tuple(ref.shape)}"
    return (out - ref).abs().max().item()


@pytest.mark.parametrize("name", list(VECTORS))
def test_conformance_vector(shared: Path, name: str) -> None:
    vec = _vector(shared, name)
    weights = vec["weights"]
    # E+G parts go in as the two official files; the loader flattens them.
    model = from_official(weights if "G" in weights else _flat_weights(vec))
    assert model.attnsr_name == VECTORS[name]
    with torch.no_grad():
        out = model(vec["input"])
    assert _max_diff(out, vec["output"]) <= TOL


def test_conformance_through_saved_pth(shared: Path, tmp_path: Path) -> None:
    vec = _vector(shared, "fssrgan_G_x4_case1.pt")
    path = tmp_path / "FsSRGAN.pth"
    torch.save({"E": vec["weights"]["E"], "G": vec["weights"]["G"]}, path)
    model = from_official(path)
    with torch.no_grad():
        assert _max_diff(model(vec["input"]), vec["output"]) <= TOL


def test_bn_counters_may_be_absent(shared: Path) -> None:
    vec = _vector(shared, "fasrgan_D_case1.pt")
    old = {k: v for k, v in vec["weights"].items() if not k.endswith("num_batches_tracked")}
    assert len(old) < len(vec["weights"])
    model = from_official(old)
    with torch.no_grad():
        assert _max_diff(model(vec["input"]), vec["output"]) <= TOL


def test_detection_claims_only_its_own_vectors(shared: Path) -> None:
    claims = {"fasrgan_G_x4_case1.pt": {"rrdbnet", "fasrgan"},
              "fssrgan_G_x4_case1.pt": {"fssrgan", "fafssrgan"},
              "fafssrgan_G_x4_case1.pt": {"fssrgan", "fafssrgan"}}
    for name, chosen in VECTORS.items():
        sd = _flat_weights(_vector(shared, name))
        claimed = {e for e in OUR_ENTRIES if get_entry(e).detect(sd) is not None}
        assert claimed == claims.get(name, {chosen}), name


def test_detected_hyper_parameters(shared: Path) -> None:
    vec = _vector(shared, "fafssrgan_G_x4_case1.pt")
    found = fssrgan.detect_generator(fssrgan.join_parts(**vec["weights"]))
    assert found == {"in_nc": 3, "nf": 16, "nb_e": 2, "nb_g": 1, "out_nc": 3, "scale": 4}
    d = fssrgan.detect_vgg(_flat_weights(_vector(shared, "fssrgan_D_case1.pt")))
    assert d == {"in_nc": 3, "nf": 16, "nb_e": 1, "base_nf": 8, "n_stages": 6, "patch_size": 192,
                 "fc_hidden": 100}
    u = fasrgan.detect_unet(_vector(shared, "fasrgan_D_case1.pt")["weights"])
    assert u == {"in_ch": 3, "nf": 8, "fc_hidden": 32, "patch_size": 128, "out_ch": 3}


# (entry, part prefix inside our model, keys file)
KEY_LISTS = [
    ("fasrgan", "", "fasrgan_G"), ("rrdbnet", "", "fasrgan_G"), ("fasrgan_unet", "", "fasrgan_D"),
    ("fssrgan", "E.", "fssrgan_E"), ("fssrgan", "G.", "fssrgan_G"), ("fssrgan_vgg192", "E.", "fssrgan_E"),
    ("fssrgan_vgg192", "D.", "fssrgan_D"), ("fafssrgan", "E.", "fafssrgan_E"), ("fafssrgan", "G.", "fafssrgan_G"),
    ("fafssrgan_unet", "E.", "fafssrgan_E"), ("fafssrgan_unet", "D.", "fafssrgan_D"),
]


@pytest.mark.parametrize("entry,prefix,keys", KEY_LISTS, ids=[f"{e}-{k}" for e, _, k in KEY_LISTS])
def test_official_key_lists(shared: Path, entry: str, prefix: str, keys: str) -> None:
    expected = json.loads((shared / "conformance" / "fasrgan" / f"keys_{keys}.json").read_text())
    with torch.device("meta"):  # official sizes without allocating ~300 MB
        model = create(entry)
    ours = [[k[len(prefix):], list(v.shape)] for k, v in model.state_dict().items() if k.startswith(prefix)]
    assert ours == expected
    if prefix:  # the parts add up to the whole model
        n_parts = sum(1 for k in model.state_dict() if k.startswith(prefix))
        assert n_parts == len(expected)


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("entry", OUR_ENTRIES)
def test_parameter_counts(entry: str) -> None:
    for scale, expected in get_entry(entry).official_params.items():
        with torch.device("meta"):
            assert _count(create(entry, scale=scale)) == expected, f"{entry} x{scale}"


def test_component_parameter_counts() -> None:
    """Per-network numbers of spec §8 / param_counts.json."""
    with torch.device("meta"):
        unet = create("fasrgan_unet")
        fs_g, fs_d = fssrgan.official_pair("fssrgan")
        fa_g, fa_d = fssrgan.official_pair("fafssrgan")
        vgg128 = fssrgan.VGGDiscriminator(64, 64, patch_size=128, n_stages=5)
        g13 = rrdbnet.RRDBNet(64, 3, 64, 13, 4)
    assert _count(unet.classifier) == 67_110_913
    assert (_count(fs_g.E), _count(fs_g.G), _count(fs_d.D)) == (721_216, 11_697_155, 20_735_689)
    assert (_count(fa_g.E), _count(fa_g.G), _count(fa_d.D)) == (1_440_640, 10_977_731, 70_508_356)
    assert _count(vgg128) == 14_537_417
    assert _count(g13) == 9_538_883


def test_foreign_state_dicts_are_not_claimed() -> None:
    e_only = {k: v for k, v in create("fssrgan", nf=8, nb_e=2, nb_g=1).state_dict().items() if k.startswith("E.")}
    e_only = {k[2:]: v for k, v in e_only.items()}
    assert rrdbnet.detect(e_only) is None  # model_ex has RRDB keys but no trunk conv
    rrdb_sd = create("rrdbnet", nf=8, nb=1).state_dict()
    assert fssrgan.detect_extractor(rrdb_sd) is None
    assert fssrgan.detect_generator(rrdb_sd) is None
    assert fasrgan.detect_unet(rrdb_sd) is None
    assert rrdbnet.detect({"conv_first.weight": torch.zeros(64, 3, 3, 3)}) is None  # ESRGAN new-arch


@pytest.mark.parametrize("scale,detected", [(2, (2, 3)), (3, (2, 3)), (4, 4)])
def test_scale_detection_and_override(scale: int, detected: Any) -> None:
    torch.manual_seed(0)
    model = create("rrdbnet", scale=scale, nf=8, nb=1).eval()
    sd = model.state_dict()
    assert rrdbnet.detect(sd)["scale"] == detected  # ×2 and ×3 share keys (spec §1.3): both reported
    loaded = from_official(sd, scale=scale)
    x = torch.rand(1, 3, 5, 7)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    assert loaded(x).shape == (1, 3, 5 * scale, 7 * scale)


def test_unet_batchnorm_eps_quirk() -> None:
    with torch.device("meta"):
        unet = create("fasrgan_unet")
    blocks = [unet.inc.conv, unet.down1.mpconv[1], unet.down2.mpconv[1], unet.down3.mpconv[1],
              unet.up2.conv, unet.up3.conv, unet.up4.conv]
    assert [b.conv[1].eps for b in blocks] == [64, 128, 256, 256, 128, 64, 64]
    assert all(b.conv[4].eps == 1e-5 for b in blocks)


def test_pair_shares_the_extractor() -> None:
    torch.manual_seed(0)
    g_cfg = fssrgan.FsSRGANConfig(nf=8, nb_e=1, nb_g=1)
    d_cfg = fssrgan.FsVGGDiscriminatorConfig(nf=8, nb_e=1, base_nf=4, patch_size=16, n_stages=3, fc_hidden=8)
    gen, disc = fssrgan.build_pair(g_cfg, d_cfg)
    assert disc.E is gen.E
    disc(torch.rand(2, 3, 16, 16)).mean().backward()
    assert all(p.grad is not None for p in gen.E.parameters())  # D's loss reaches the shared E
    assert all(p.grad is None for p in gen.G.parameters())
    with pytest.raises(ConfigError, match="nb_e"):
        fssrgan.build_pair(g_cfg, fssrgan.FAFsUNetDiscriminatorConfig(nf=8, nb_e=2))


def test_discriminators_reject_wrong_sizes() -> None:
    unet = fasrgan.UNetDiscriminator(3, 3, nf=4, patch_size=32, fc_hidden=8)
    score, smap = unet(torch.rand(2, 3, 32, 32))
    assert score.shape == (2, 1) and smap.shape == (2, 3, 32, 32)
    with pytest.raises(ValueError, match="32×32"):
        unet(torch.rand(1, 3, 32, 40))


def test_generators_take_non_square_inputs_and_backprop() -> None:
    torch.manual_seed(0)
    for model in (create("fssrgan", nf=8, nb_e=1, nb_g=1), create("fafssrgan", nf=8, nb_e=2, nb_g=1)):
        y = model(torch.rand(1, 3, 13, 11))
        assert y.shape == (1, 3, 52, 44)
        y.mean().backward()
        assert all(p.grad is not None for p in model.parameters())


def test_our_format_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = create("fssrgan_vgg192", nf=8, base_nf=4, patch_size=16, n_stages=3, fc_hidden=8).eval()
    path = tmp_path / "d.safetensors"
    save_model(model, path)
    again = load_model(path)
    assert again.attnsr_config == model.attnsr_config
    x = torch.rand(1, 3, 16, 16)
    with torch.no_grad():
        assert torch.equal(again(x), model(x))
