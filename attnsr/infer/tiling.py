"""Tiled super-resolution: pure planning of tile windows and a forward that stitches cropped cores.

Each LR image is cut into a grid of *cores* of at most ``tile`` pixels; every core is processed inside a
*window* that adds up to ``overlap`` pixels of real image context on each side. All windows of an image
have the same size (windows are shifted inward at the borders instead of shrunk), so they batch into one
forward. Only each window's core is kept, so no blending weights are needed: for a network whose receptive
field radius is at most ``overlap`` LR pixels the result equals the untiled forward exactly (up to float
summation order), and for deep networks the difference decays with ``overlap``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from attnsr.image.dihedral import dihedral, dihedral_inverse


@dataclass(frozen=True)
class Span:
    """One axis of a tile: the core [core0, core1) and the window [win0, win1) around it (LR pixels)."""

    core0: int
    core1: int
    win0: int
    win1: int


def plan_axis(length: int, tile: int, overlap: int) -> list[Span]:
    """Cores of at most ``tile`` covering [0, length) and equal-size windows with ``overlap`` context."""
    if tile <= 0 or overlap < 0:
        raise ValueError(f"tile must be > 0 and overlap >= 0, got tile={tile}, overlap={overlap}")
    if length <= tile + 2 * overlap:
        return [Span(0, length, 0, length)]
    n = -(-length // tile)  # ceil
    core = -(-length // n)  # balanced cores, each <= tile
    window = min(length, core + 2 * overlap)
    spans = []
    for i in range(n):
        c0, c1 = i * core, min(length, (i + 1) * core)
        w0 = min(max(c0 - overlap, 0), length - window)
        spans.append(Span(c0, c1, w0, w0 + window))
    return spans


@dataclass(frozen=True)
class Tile:
    ys: Span
    xs: Span


def plan_tiles(height: int, width: int, tile: int, overlap: int) -> list[Tile]:
    """The tile grid of an LR image, row-major."""
    return [Tile(ys, xs) for ys in plan_axis(height, tile, overlap) for xs in plan_axis(width, tile, overlap)]


def _batches(tiles: list[Tile], batch: int) -> Iterator[list[Tile]]:
    for i in range(0, len(tiles), batch):
        yield tiles[i : i + batch]


Sink = Callable[[int, int, int, int, torch.Tensor], None]


def tiled_forward(
    fn: Callable[[torch.Tensor], torch.Tensor],
    lr: torch.Tensor,
    scale: int,
    *,
    tile: int,
    overlap: int = 16,
    batch: int = 1,
    sink: Sink | None = None,
    progress: Callable[[int], object] | None = None,
) -> torch.Tensor | None:
    """Apply ``fn`` (LR (B,C,h,w) -> SR (B,C',h·s,w·s)) to ``lr`` (1,C,H,W) tile by tile.

    Without ``sink`` the stitched SR tensor (1,C',H·s,W·s) is returned (float, on ``lr``'s device). With a
    ``sink(y0, y1, x0, x1, sr_core)`` each core's SR pixels (1,C',y1-y0,x1-x0) are handed over instead
    (e.g. to quantise straight into a uint8 buffer), and None is returned. ``progress(n)`` is called with
    the number of tiles finished after every batch.
    """
    if lr.dim() != 4 or lr.shape[0] != 1:
        raise ValueError(f"tiled_forward expects one image (1,C,H,W), got {tuple(lr.shape)}")
    _, _, height, width = lr.shape
    tiles = plan_tiles(height, width, tile, overlap)
    out: torch.Tensor | None = None
    for group in _batches(tiles, max(1, batch)):
        windows = torch.cat([lr[:, :, t.ys.win0 : t.ys.win1, t.xs.win0 : t.xs.win1] for t in group])
        sr = fn(windows)
        for k, t in enumerate(group):
            y0, y1 = (t.ys.core0 - t.ys.win0) * scale, (t.ys.core1 - t.ys.win0) * scale
            x0, x1 = (t.xs.core0 - t.xs.win0) * scale, (t.xs.core1 - t.xs.win0) * scale
            core = sr[k : k + 1, :, y0:y1, x0:x1]
            oy0, ox0 = t.ys.core0 * scale, t.xs.core0 * scale
            oy1, ox1 = t.ys.core1 * scale, t.xs.core1 * scale
            if sink is not None:
                sink(oy0, oy1, ox0, ox1, core)
                continue
            if out is None:
                out = sr.new_empty(1, sr.shape[1], height * scale, width * scale)
            out[:, :, oy0:oy1, ox0:ox1] = core
        if progress is not None:
            progress(len(group))
    return out


def self_ensemble(fn: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """×8 geometric self-ensemble (the papers' "+" results): mean of fn over the 8 dihedral transforms."""
    acc = fn(x)
    for k in range(1, 8):
        acc = acc + dihedral_inverse(fn(dihedral(x, k)), k)
    return acc / 8
