"""Tiled == untiled within 1/255 for the convolutional networks of the registry, at several tile sizes,
odd image sizes and every scale they support (global-attention networks: see benchmarks/tiling.py)."""

from __future__ import annotations

import pytest
import torch

from attnsr.infer.engine import Upscaler
from attnsr.models import create

# Purely convolutional generators (no global pooling or global attention), at reduced width/depth.
CONV_NETWORKS = [("rrdbnet", {"nb": 1, "nf": 16}, (2, 3, 4)), ("fssrgan", {"nf": 16, "nb_g": 1}, (4,))]
CASES = [(n, cfg, s) for n, cfg, scales in CONV_NETWORKS for s in scales]


@pytest.mark.parametrize("name,cfg,scale", CASES, ids=[f"{n}-x{s}" for n, _, s in CASES])
def test_tiled_equals_untiled_within_one_level(name: str, cfg: dict, scale: int) -> None:
    torch.manual_seed(0)
    model = create(name, scale=scale, **cfg)
    x = torch.rand(1, 3, 37, 29, generator=torch.Generator().manual_seed(1))
    whole = Upscaler(model, device="cpu", tile=0).upscale_tensor(x)
    for tile in (12, 20):
        tiled = Upscaler(model, device="cpu", tile=tile, overlap=16).upscale_tensor(x)
        assert tiled.shape == whole.shape == (1, 3, 37 * scale, 29 * scale)
        diff = (tiled - whole).abs().max().item()
        assert diff < 1 / 255, f"{name} x{scale} tile {tile}: max diff {diff * 255:.3f}/255"
