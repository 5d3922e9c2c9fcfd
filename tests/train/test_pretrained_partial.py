"""Starting a ×3 network from a ×2 checkpoint copies every matching tensor and re-initialises the rest."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from attnsr.errors import CheckpointError, ConfigError
from attnsr.models import create, save_model
from attnsr.models.checkpoint import load_matching

SMALL = {"n_channels": 8, "n_blocks": 1, "n_modules": 2, "reduction": 4}


def test_x3_from_x2_copies_body_and_keeps_new_upsampler(tmp_path: Path) -> None:
    torch.manual_seed(0)
    x2 = create("defian_s", scale=2, **SMALL)
    path = tmp_path / "x2.safetensors"
    save_model(x2, path)
    torch.manual_seed(1)
    x3 = create("defian_s", scale=3, **SMALL)
    fresh = {k: v.clone() for k, v in x3.state_dict().items()}
    loaded, kept = load_matching(x3, path)
    assert kept and all(k.startswith("upscale.") for k in kept)
    for k in loaded:
        assert torch.equal(x3.state_dict()[k], x2.state_dict()[k])
    for k in kept:
        assert torch.equal(x3.state_dict()[k], fresh[k])


def test_nothing_matching_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    other = create("rrdbnet", scale=2, nb=1, nf=8)
    save_model(other, path)
    with pytest.raises(ConfigError, match="arch: the network is 'defian_s', but the file holds 'rrdbnet'"):
        load_matching(create("defian_s", scale=2, **SMALL), path)
    torch.save(other.state_dict(), tmp_path / "official.pth")  # an official file: no arch to compare
    with pytest.raises(CheckpointError, match="no tensor matches"):
        load_matching(create("defian_s", scale=2, **SMALL), tmp_path / "official.pth")
