"""Cost-aware automatic tiles: for networks whose work grows with the square of the pixels seen at once
(HSPAN's global attention), the automatic tile minimises estimated time instead of the tile count."""

from __future__ import annotations

import torch

from attnsr import Upscaler, create
from attnsr.infer.engine import cost_optimal_tile, fit_cost
from attnsr.models.stats import count_flops

TINY_HSPAN = {"n_resgroups": 1, "n_resblocks": 1, "n_feats": 16, "topk": 8}


def test_fit_reproduces_flop_counts_and_is_linear_for_convolutions() -> None:
    hspan = create("hspan", scale=2, **TINY_HSPAN).eval()
    c1, c2 = fit_cost(hspan)
    assert c2 > 0
    counted = count_flops(hspan, 36, 36)
    # a third size, not used by the fit (keys are padded to groups)
    assert abs((c1 * 36**2 + c2 * 36**4) - counted) / counted < 0.05
    conv = create("srvgg", scale=2, nf=8, num_conv=2).eval()
    d1, d2 = fit_cost(conv)
    assert d2 <= 1e-6 * d1 and abs(d1 * 30**2 - count_flops(conv, 30, 30)) / count_flops(conv, 30, 30) < 1e-3


def test_cost_optimal_tile_trades_tile_count_against_window_size() -> None:
    assert cost_optimal_tile(288, 288, 16, 1.0, 0.0, largest=288) == 288  # linear cost: fewest tiles
    # HSPAN x2 official size, FLOPs fitted with the time weight: 88-px tiles on 288 x 288, whole below ~100
    c1, c2 = 64.7e6, 6827.0
    tile = cost_optimal_tile(288, 288, 16, c1, c2, largest=288)
    assert 64 <= tile <= 112

    def cost(t: int) -> float:  # independent: the windows written out by hand for a square image
        n = -(-288 // t)
        core = -(-288 // n)
        window = min(288, core + 32) if n > 1 else 288
        return n * n * (c1 * window**2 + c2 * window**4)

    assert cost(tile) <= min(cost(t) for t in range(32, 289, 8)) * 1.0001
    assert cost(288) / cost(tile) > 2  # one whole-image tile: more than twice the estimated time


def test_automatic_tile_splits_attention_networks_but_not_convolutional_ones() -> None:
    torch.manual_seed(0)
    hspan = Upscaler(create("hspan", scale=2, **TINY_HSPAN), scale=2, device="cpu", border="none")
    assert 32 <= hspan.tile_size(288, 288) < 288 and hspan.count_tiles(288, 288) > 1
    assert hspan.tile_size(288, 288) == hspan.tile_size(288, 288)  # the fit is cached
    conv = Upscaler(create("srvgg", scale=2, nf=8, num_conv=2), scale=2, device="cpu", border="none")
    assert conv.tile_size(288, 288) == 288
    fixed = Upscaler(create("hspan", scale=2, **TINY_HSPAN), scale=2, device="cpu", tile=0)
    assert fixed.tile_size(288, 288) == 288  # --tile 0 still means the whole image
