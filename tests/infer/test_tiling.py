"""Tiling is exact for bounded receptive fields, covers every pixel once, and handles odd sizes."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from attnsr.image.dihedral import dihedral, dihedral_inverse
from attnsr.infer.engine import EngineOptions, Upscaler, keep_freed_memory
from attnsr.infer.tiling import plan_axis, self_ensemble, tiled_forward


class TinySR(nn.Module):
    """Three 3×3 convs + pixel shuffle: receptive-field radius 3 LR pixels."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.body = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, 3 * scale * scale, 3, padding=1), nn.PixelShuffle(scale),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@pytest.mark.parametrize("length,tile,overlap", [(1, 4, 2), (37, 8, 3), (64, 16, 0), (65, 16, 5), (100, 7, 20)])
def test_axis_plan_covers_once_with_equal_windows(length: int, tile: int, overlap: int) -> None:
    spans = plan_axis(length, tile, overlap)
    covered = np.zeros(length, int)
    for s in spans:
        covered[s.core0 : s.core1] += 1
        assert s.core1 - s.core0 <= max(tile, length if len(spans) == 1 else tile)
        assert 0 <= s.win0 <= s.core0 and s.core1 <= s.win1 <= length
        # each core has `overlap` context on both sides unless its window reaches the image border
        assert s.core0 - s.win0 >= overlap or s.win0 == 0
        assert s.win1 - s.core1 >= overlap or s.win1 == length
    assert (covered == 1).all()
    assert len({s.win1 - s.win0 for s in spans}) == 1, "windows must have equal size (batchable)"


@pytest.mark.parametrize("scale", [2, 3, 4])
@pytest.mark.parametrize("tile,batch", [(8, 1), (13, 3), (32, 2)])
def test_tiled_equals_untiled_for_bounded_receptive_field(scale: int, tile: int, batch: int) -> None:
    torch.manual_seed(scale)
    model = TinySR(scale).eval()
    x = torch.rand(1, 3, 29, 23)
    with torch.no_grad():
        full = model(x)
        tiled = tiled_forward(model, x, scale, tile=tile, overlap=3, batch=batch)
    assert tiled is not None and tiled.shape == full.shape
    assert (tiled - full).abs().max().item() < 1e-5


def test_too_little_overlap_is_detectably_different() -> None:
    torch.manual_seed(0)
    model = TinySR(2).eval()
    x = torch.rand(1, 3, 29, 23)
    with torch.no_grad():
        diff = (tiled_forward(model, x, 2, tile=8, overlap=0) - model(x)).abs().max().item()
    assert diff > 1e-3  # the test above would catch a tiler that ignores context


def test_dihedral_inverse_and_ensemble_of_equivariant_map() -> None:
    x = torch.rand(2, 3, 5, 7)
    for k in range(8):
        assert torch.equal(dihedral_inverse(dihedral(x, k), k), x)
    assert len({tuple(dihedral(x, k).flatten().tolist()) for k in range(8)}) == 8
    # an equivariant map (per-pixel scaling) is unchanged by self-ensemble
    assert torch.allclose(self_ensemble(lambda t: t * 2, x), x * 2)


def test_upscaler_arrays_keep_dtype_gray_and_alpha() -> None:
    torch.manual_seed(0)
    up = Upscaler(TinySR(2), device="cpu", fold=False, tile=8, overlap=3)
    rgba = (np.random.default_rng(0).random((11, 9, 4)) * 255).astype(np.uint8)
    out = up.upscale(rgba)
    assert out.shape == (22, 18, 4) and out.dtype == np.uint8
    gray16 = (np.random.default_rng(1).random((11, 9)) * 65535).astype(np.uint16)
    out16 = up.upscale(gray16)
    assert out16.shape == (22, 18) and out16.dtype == np.uint16
    t = up.upscale(torch.rand(3, 11, 9))
    assert t.shape == (3, 22, 18)
    # alpha of an opaque image stays opaque
    rgba[..., 3] = 255
    assert (up.upscale(rgba)[..., 3] == 255).all()


def test_upscaler_tiled_matches_whole_image_in_uint8() -> None:
    torch.manual_seed(0)
    model = TinySR(3)
    img = (np.random.default_rng(2).random((31, 27, 3)) * 255).astype(np.uint8)
    whole = Upscaler(model, device="cpu", fold=False, tile=0).upscale(img)
    tiled = Upscaler(model, device="cpu", fold=False, tile=10, overlap=4).upscale(img)
    assert np.abs(whole.astype(int) - tiled.astype(int)).max() <= 1


def test_fp16_on_cpu_is_refused() -> None:
    with pytest.raises(ValueError, match="fp16"):
        Upscaler(TinySR(2), device="cpu", fold=False, precision="fp16")


def test_automatic_tile_takes_the_whole_image_when_it_fits(monkeypatch) -> None:
    import attnsr.infer.engine as engine

    up = Upscaler(TinySR(2), device="cpu", fold=False)
    per_px = engine.activation_bytes_per_pixel(up.model, up.device) * up.options.live_activations
    monkeypatch.setattr(engine, "available_memory", lambda _d: int(4 * 1000 * 1000 * per_px) + 1)
    assert up.tile_size(1000, 1000) == 1000  # fits a quarter of free memory: one tile
    cap = EngineOptions().cpu_max_tile
    assert up.tile_size(3000, 4000) == cap  # does not fit: exact tiles, capped on CPU
    assert Upscaler(TinySR(2), device="cpu", fold=False, cpu_max_tile=200).tile_size(3000, 4000) == 200
    assert up.tile_size(100, 150) == 150


def test_automatic_tiles_of_a_global_model_are_the_fewest_memory_allows(monkeypatch) -> None:
    import attnsr.infer.engine as engine
    from attnsr.models import create

    up = Upscaler(create("rcan", scale=2, n_resgroups=1, n_resblocks=1, n_feats=16, reduction=4), device="cpu")
    assert up.descriptor is not None and not up.descriptor.tiles_exact
    per_px = engine.activation_bytes_per_pixel(up.model, up.device) * up.options.live_activations
    monkeypatch.setattr(engine, "available_memory", lambda _d: int(4 * 800 * 800 * per_px))
    assert up.tile_size(3000, 4000) == 800  # not the 384-px CPU cap of exact models
    with pytest.warns(UserWarning, match="tiling into .* tiles changes this model's output"):
        up._warn_inexact_tiles(4)


def test_keep_freed_memory_on_glibc() -> None:
    """The allocator tuning the CLI applies takes effect exactly where the C library is glibc."""
    import platform

    assert keep_freed_memory() is (platform.libc_ver()[0] == "glibc")
