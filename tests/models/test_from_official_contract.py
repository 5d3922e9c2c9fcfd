"""from_official honours or refuses arch / scale / overrides, for our own files and official ones alike."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from attnsr.errors import ConfigError
from attnsr.models import create, from_official, save_model

SMALL_DFSA = dict(n_feats=8, n_resgroups=1, n_resblocks=1, reduction=4, hpf_placement="none")


@pytest.fixture
def dfsa_x2(tmp_path: Path) -> Path:
    torch.manual_seed(0)
    path = tmp_path / "dfsa_x2.safetensors"
    save_model(create("dfsa", scale=2, **SMALL_DFSA), path)
    return path


def test_own_file_of_another_network_is_refused_naming_arch(dfsa_x2: Path) -> None:
    with pytest.raises(ConfigError) as err:
        from_official(dfsa_x2, arch="rcan", scale=4, n_feats=16)
    msg = str(err.value)  # every contradiction, each with both values, in one line
    assert "arch: asked 'rcan', the file has 'dfsa'" in msg and "scale: asked x4, the file has x2" in msg
    assert "n_feats: asked 16, the file has 8" in msg and "\n" not in msg


@pytest.mark.parametrize("kwargs, words", [
    ({"scale": 4}, ("scale", "x4", "x2")),
    ({"n_feats": 16}, ("n_feats", "16", "n_feats=8")),
    ({"arch": "dfsa", "scale": 2, "n_resblocks": 3}, ("n_resblocks", "3", "n_resblocks=1")),
])
def test_own_file_refuses_what_its_weights_contradict(dfsa_x2: Path, kwargs: dict, words: tuple) -> None:
    with pytest.raises(ConfigError) as err:
        from_official(dfsa_x2, **kwargs)
    assert all(w in str(err.value) for w in words), str(err.value)


def test_own_file_takes_matching_requests_and_honours_shape_free_overrides(tmp_path: Path, dfsa_x2: Path) -> None:
    same = from_official(dfsa_x2, arch="dfsa", scale=2, **SMALL_DFSA)
    assert same.attnsr_config.n_feats == 8 and same.attnsr_config.scale == 2
    torch.manual_seed(0)
    hspan = create("hspan", scale=2, n_feats=8, n_resgroups=1, n_resblocks=1, reduction=4, topk=16)
    save_model(hspan, tmp_path / "hspan.safetensors")
    got = from_official(tmp_path / "hspan.safetensors", topk=4)  # the top-k changes no shape: honoured
    assert got.attnsr_config.topk == 4
    assert all(torch.equal(a, b) for a, b in zip(got.state_dict().values(), hspan.state_dict().values()))


def test_family_name_detects_the_variant(tmp_path: Path) -> None:
    torch.manual_seed(0)
    small_s = {"n_channels": 16, "n_blocks": 1, "n_modules": 1, "reduction": 4}
    for variant, opts in (("defian_s", small_s), ("defian_l", {})):
        model = create(variant, scale=2, **opts)
        torch.save(model.state_dict(), tmp_path / f"{variant}.pth")  # the official layout (same keys)
        save_model(model, tmp_path / f"{variant}.safetensors")
        for suffix in (".pth", ".safetensors"):
            got = from_official(tmp_path / f"{variant}{suffix}", arch="defian", scale=2)
            assert got.attnsr_name == variant, (variant, suffix)
    with pytest.raises(ConfigError, match="arch"):
        from_official(tmp_path / "defian_s.safetensors", arch="rcan")


def test_official_file_refuses_an_override_its_shapes_contradict(tmp_path: Path) -> None:
    torch.manual_seed(0)
    rcan = create("rcan", scale=2, n_feats=8, n_resgroups=1, n_resblocks=1, reduction=4)
    torch.save(rcan.state_dict(), tmp_path / "rcan.pt")
    with pytest.raises(ConfigError) as err:
        from_official(tmp_path / "rcan.pt", arch="rcan", scale=2, n_feats=16)
    assert "n_feats" in str(err.value) and "16" in str(err.value) and "8" in str(err.value)


def test_config_values_are_type_checked_naming_the_key() -> None:
    with pytest.raises(ConfigError, match=r"n_feats: expected an integer, got '32'"):
        create("rcan", scale=2, n_feats="32")
    with pytest.raises(ConfigError, match=r"attention: expected true/false"):
        create("defian_s", scale=2, attention=1)
    assert create("rcan", scale=2, n_feats=8, reduction=4, n_resgroups=1, n_resblocks=1,
                  rgb_range=255).attnsr_config.rgb_range == 255.0
