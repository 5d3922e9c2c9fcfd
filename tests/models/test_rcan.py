"""RCAN: official key layout and parameter counts (spec dfsa.md §4), detection, strict loading, wrapper range."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from unittest import mock

import pytest
import torch

from attnsr.models import from_official
from attnsr.models.rcan import ENTRIES, RCAN, RCANConfig, detect

TINY = dict(n_resgroups=2, n_resblocks=3, n_feats=16, reduction=4)


@pytest.fixture(autouse=True)
def _single_thread() -> None:
    # Tiny tensors: one thread avoids OpenMP oversubscription on the shared 2-core machine.
    torch.set_num_threads(1)


def meta_model(**cfg: object) -> RCAN:
    """Full-size models built fast: weights allocated but not initialised (only shapes are used)."""
    with mock.patch.object(torch.nn.Conv2d, "reset_parameters", lambda self: None):
        return RCAN(RCANConfig(**cfg))  # type: ignore[arg-type]


@functools.cache
def official_meta_sd(scale: int) -> dict[str, torch.Tensor]:
    return meta_model(scale=scale).state_dict()


@pytest.mark.parametrize("scale,trainable", [(2, 15_444_643), (3, 15_629_283), (4, 15_592_355)])
def test_param_counts_match_spec(scale: int, trainable: int) -> None:
    model = meta_model(scale=scale)
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == trainable
    # The commonly quoted totals include the two frozen MeanShift convs (24 numbers).
    assert sum(p.numel() for p in model.parameters()) == trainable + 24
    assert ENTRIES[0].official_params[scale] == trainable


def official_keys(n_groups: int, n_blocks: int, scale: int) -> list[str]:
    """The key list of yulunzhang/RCAN's model, written out from its module structure."""
    keys = ["sub_mean.weight", "sub_mean.bias", "head.0.weight", "head.0.bias"]
    for g in range(n_groups):
        for b in range(n_blocks):
            p = f"body.{g}.body.{b}.body"
            keys += [f"{p}.0.weight", f"{p}.0.bias", f"{p}.2.weight", f"{p}.2.bias"]
            keys += [f"{p}.3.conv_du.{i}.{t}" for i in (0, 2) for t in ("weight", "bias")]
        keys += [f"body.{g}.body.{n_blocks}.weight", f"body.{g}.body.{n_blocks}.bias"]
    keys += [f"body.{n_groups}.weight", f"body.{n_groups}.bias"]
    ups = {2: [0], 3: [0], 4: [0, 2]}[scale]
    keys += [f"tail.0.{i}.{t}" for i in ups for t in ("weight", "bias")]
    keys += ["tail.1.weight", "tail.1.bias", "add_mean.weight", "add_mean.bias"]
    return keys


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_official_key_names_and_shapes(scale: int) -> None:
    sd = official_meta_sd(scale)
    assert sorted(sd) == sorted(official_keys(10, 20, scale))
    assert tuple(sd["body.9.body.19.body.3.conv_du.0.weight"].shape) == (4, 64, 1, 1)
    assert tuple(sd["body.9.body.20.weight"].shape) == (64, 64, 3, 3)
    up = {2: (256, 64, 3, 3), 3: (576, 64, 3, 3), 4: (256, 64, 3, 3)}[scale]
    assert tuple(sd["tail.0.0.weight"].shape) == up
    assert tuple(sd["tail.1.weight"].shape) == (3, 64, 3, 3)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_detect_full_official_config(scale: int) -> None:
    found = detect(official_meta_sd(scale))
    assert found == {"scale": scale, "n_resgroups": 10, "n_resblocks": 20, "n_feats": 64, "reduction": 16,
                     "rgb_range": 255.0}


def test_detect_small_and_rgb_range_one() -> None:
    sd = RCAN(RCANConfig(scale=3, n_resgroups=3, n_resblocks=2, n_feats=32, reduction=8, rgb_range=1.0)).state_dict()
    assert detect(sd) == {"scale": 3, "n_resgroups": 3, "n_resblocks": 2, "n_feats": 32, "reduction": 8,
                          "rgb_range": 1.0}


def test_detect_rejects_foreign(shared) -> None:  # type: ignore[no-untyped-def]
    hspan = {k: torch.empty(shape, device="meta") for k, shape in
             json.loads((shared / "conformance" / "hspan" / "keys_x2.json").read_text())}
    assert detect(hspan) is None
    sd = meta_model(**TINY).state_dict()
    sd["body.0.body.0.body.3.kernel_conv.weight"] = torch.empty(72, 16, 3, 3)  # DFSA key
    assert detect(sd) is None
    assert detect({"conv_first.weight": torch.empty(64, 3, 3, 3)}) is None


def test_from_official_roundtrip_through_pth_file(tmp_path: Path) -> None:
    torch.manual_seed(0)
    ref = RCAN(RCANConfig(scale=4, **TINY)).eval()
    path = tmp_path / "RCAN_BIX4.pt"
    # DataParallel-style prefix and container, as some released checkpoints have.
    torch.save({"state_dict": {f"module.{k}": v for k, v in ref.state_dict().items()}}, path)
    model = from_official(path)
    assert model.attnsr_name == "rcan" and model.attnsr_config == RCANConfig(scale=4, **TINY)
    x = torch.rand(1, 3, 7, 5)
    with torch.no_grad():
        assert torch.equal(model(x), ref(x))


def test_zero_tail_gives_div2k_mean_and_shapes() -> None:
    torch.manual_seed(0)
    for scale in (2, 3, 4):
        model = RCAN(RCANConfig(scale=scale, **TINY)).eval()
        with torch.no_grad():
            model.tail[1].weight.zero_()
            model.tail[1].bias.zero_()
            y = model(torch.rand(2, 3, 5, 7))
        assert y.shape == (2, 3, 5 * scale, 7 * scale)
        mean = torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1)
        assert torch.allclose(y, mean.expand_as(y), atol=1e-6)
