"""HSPAN: High-Similarity-Pass Attention Network (checkpoint-compatible re-implementation).

Paper: Su, Gan, Chen, Guo, Chen, "High-Similarity-Pass Attention for Single Image Super-Resolution",
IEEE TIP 33 (2024) 610-624, arXiv 2305.15768. Official code: github.com/laoyangui/HSPAN @ b9e882a
(an EDSR-PyTorch fork: ``src/model/hspan.py``, ``src/model/attention.py``). Spec: ``specs/hspan.md``.

Structure: MeanShift -> conv head -> G HSPAMs (each: B LEBs, one HSPA, a 3×3 conv, residual ×0.1)
-> conv, global residual -> pixel-shuffle upsampler -> conv -> MeanShift. Official key names throughout,
so official state dicts load unchanged (``convert`` only copies).

HSPA is global non-local attention whose row normalisation is *sparsemax* (the paper's "soft
thresholding"): scores S = q·k (no scaling), A = sparsemax(S) row-wise, out = A·g. Differences from the
official code, none of which changes outputs beyond float32 rounding (~1e-7):

* The official code builds the whole P×P score matrix (P = H·W), shifts it, runs the top-k solver,
  writes a dense P×P thresholded copy and multiplies it densely with g. Here query rows are processed in
  chunks (exact: each row is thresholded independently, every chunk sees every key), each row's support
  is found without a top-k or sort over the P keys (lower bounds of τ from maxima of strided key groups
  exclude almost every key, exact Michelot steps finish the few candidates left), τ is computed from the
  support with the official rounding, and the aggregation reads only the non-zero weights
  (``F.embedding_bag``), so memory is O(chunk·P) and the dense P×P·C product is avoided.
* The official solver (sorted top-k candidates, grown until the support fits, full sort once k >= P) is
  kept: it runs when ``topk`` >= P, as in the official code, and for any row the fast path cannot
  certify (NaN/inf scores). Instead of doubling k repeatedly, a row whose support fills all k candidates
  is redone once with a window sized from the lower bound on τ the first pass gives.
* Backward is autograd through the closed form, which equals the official custom backward (spec §4).
* The stray parameter ``a`` is frozen (``requires_grad=False``): it never reaches the forward pass, so
  it can never get a gradient; the official optimizer skipped it for the same reason.
* ``forward_chop`` reproduces the official test-time chop; inputs too small for it (where the official
  code crashes, spec §6) fall back to the whole-image forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from attnsr.errors import ConfigError
from attnsr.models.keys import conv_width, count_indexed, same_layout
from attnsr.models.registry import NetworkEntry, StateDict
from attnsr.ops.common import MeanShift, Upsampler, default_conv
from attnsr.ops.sparsemax import SparseRows, auto_chunk_size, sparsemax_attention, sparsemax_rows  # noqa: F401  (old import path)


@dataclass(frozen=True)
class HSPANConfig:
    """Constructor arguments; defaults are the README configuration (x2: 32,288,698 parameters).

    ``topk`` is the official solver's initial candidate count. Outputs do not depend on it: ``topk`` >= P
    selects the official full-sort solver, otherwise the faster exact solver runs (see
    :func:`attnsr.ops.sparsemax.sparsemax_rows`).
    ``chunk_size`` is the number of query rows whose scores are held at once (``None``: automatic, see
    :func:`attnsr.ops.sparsemax.auto_chunk_size`); it does not change outputs either.
    Inputs/outputs are RGB in [0, 1] (the official ``rgb_range`` 1, 3 colours).
    """

    scale: int = 2
    n_resgroups: int = 10
    n_resblocks: int = 4
    n_feats: int = 192
    reduction: int = 2
    topk: int = 128
    res_scale: float = 0.1
    chunk_size: int | None = None


# ----------------------------------------------------------------------------------------------------
# Blocks (official attribute names).


class LEB(nn.Module):
    """Locality exploration block: x + conv(ReLU(conv(x))). Keys ``body.0``, ``body.2``; no residual
    scaling (the official block stores a res_scale but never applies it)."""

    def __init__(self, n_feats: int, kernel_size: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(
            default_conv(n_feats, n_feats, kernel_size), nn.ReLU(inplace=True),
            default_conv(n_feats, n_feats, kernel_size),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _embed(in_channels: int, out_channels: int) -> nn.Sequential:
    """1×1 conv + PReLU with one shared slope (keys ``0.weight``, ``0.bias``, ``1.weight``)."""
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, 1), nn.PReLU())


class HSPA(nn.Module):
    """High-similarity-pass attention: x + res_scale · sparsemax(q·kᵀ)·g over all H·W positions.

    Input/output N×C×H×W. ``topk``, ``chunk_size`` and ``workers`` (threads for the chunks, ``None``:
    torch's thread count; see :func:`attnsr.ops.sparsemax.sparsemax_attention`) are runtime knobs
    (attributes) that change speed and memory only.
    """

    def __init__(self, n_feats: int, reduction: int, res_scale: float, topk: int,
                 chunk_size: int | None = None) -> None:
        super().__init__()
        self.res_scale = res_scale
        self.topk = topk
        self.chunk_size = chunk_size
        self.workers: int | None = None
        self.conv_match1 = _embed(n_feats, n_feats // reduction)
        self.conv_match2 = _embed(n_feats, n_feats // reduction)
        self.conv_assembly = _embed(n_feats, n_feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        query, key, value = self.conv_match1(x), self.conv_match2(x), self.conv_assembly(x)
        n, c_embed, h, w = query.shape
        query = query.permute(0, 2, 3, 1).reshape(n, h * w, c_embed)
        key = key.reshape(n, c_embed, h * w)
        value = value.reshape(n, -1, h * w).transpose(1, 2)
        out = sparsemax_attention(query, key, value, topk=self.topk, chunk_size=self.chunk_size,
                                  workers=self.workers)
        return self.res_scale * out.transpose(1, 2).reshape(n, -1, h, w) + x


class HSPAM(nn.Module):
    """HSPA module: x + res_scale · conv(HSPA(LEB_B(...LEB_1(x)))). Keys ``body.0..B-1`` (LEBs),
    ``body.B`` (HSPA), ``body.B+1`` (conv)."""

    def __init__(self, n_feats: int, n_resblocks: int, reduction: int, res_scale: float, topk: int,
                 chunk_size: int | None = None) -> None:
        super().__init__()
        layers: list[nn.Module] = [LEB(n_feats) for _ in range(n_resblocks)]
        layers.append(HSPA(n_feats, reduction, res_scale, topk, chunk_size))
        layers.append(default_conv(n_feats, n_feats, 3))
        self.body = nn.Sequential(*layers)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Quirk: res_scale scales both the HSPA residual and this module's residual (spec §8.2).
        return self.res_scale * self.body(x) + x


# ----------------------------------------------------------------------------------------------------
# The network.


class HSPAN(nn.Module):
    """HSPAN. Input N×3×H×W RGB in [0, 1], any H, W >= 1; output N×3×sH×sW, not clamped."""

    def __init__(self, cfg: HSPANConfig) -> None:
        super().__init__()
        if cfg.scale not in (3,) and (cfg.scale < 2 or cfg.scale & (cfg.scale - 1)):
            raise ConfigError(f"hspan: scale must be 3 or a power of two >= 2, got {cfg.scale}")
        c = cfg.n_feats
        self.scale = cfg.scale
        # Quirk: stray parameter never used in forward; kept (frozen) for key parity (spec §8.1).
        self.a = nn.Parameter(torch.zeros(1), requires_grad=False)
        self.sub_mean = MeanShift(1.0, sign=-1)
        # Quirk: add_mean is registered before head, which fixes the state_dict order (spec §8.3).
        self.add_mean = MeanShift(1.0, sign=1)
        self.head = nn.Sequential(default_conv(3, c, 3))
        groups: list[nn.Module] = [
            HSPAM(c, cfg.n_resblocks, cfg.reduction, cfg.res_scale, cfg.topk, cfg.chunk_size)
            for _ in range(cfg.n_resgroups)
        ]
        self.body = nn.Sequential(*groups, default_conv(c, c, 3))
        self.tail = nn.Sequential(Upsampler(cfg.scale, c), default_conv(c, 3, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = self.head(self.sub_mean(x))
        return self.add_mean(self.tail(self.body(feats) + feats))

    def set_attention(self, *, topk: int | None = None, chunk_size: int | None | str = "keep",
                      workers: int | None | str = "keep") -> None:
        """Change the speed/memory knobs of every HSPA (``chunk_size=None`` means automatic,
        ``workers=None`` torch's thread count)."""
        for module in self.modules():
            if isinstance(module, HSPA):
                if topk is not None:
                    module.topk = topk
                if chunk_size != "keep":
                    module.chunk_size = chunk_size  # type: ignore[assignment]
                if workers != "keep":
                    module.workers = workers  # type: ignore[assignment]


def build(cfg: HSPANConfig) -> HSPAN:
    """Registry hook: the network for ``cfg``."""
    return HSPAN(cfg)


# ----------------------------------------------------------------------------------------------------
# Official test-time chop (src/model/__init__.py ``forward_chop``, spec §6).


def _chop_sizes(h: int, w: int, shave: int) -> tuple[int, int, int, int]:
    """Half sizes and padded crop sizes; the padding always adds 1..4 rows and 1..8 columns."""
    hh, wh = h // 2, w // 2
    hs, ws = hh + shave, wh + shave
    # Quirk: rounds up to a multiple of 4 / 8 but adds a full step when already divisible.
    return hh, wh, hs + (4 - hs % 4), ws + (8 - ws % 8)


def forward_chop(model: nn.Module, x: torch.Tensor, *, scale: int | None = None, shave: int = 10,
                 min_size: int = 120000) -> torch.Tensor:
    """The official chopped forward: four overlapping crops, each run separately, quadrants pasted back.

    x: N×3×h×w in [0, 1] -> N×3×sh×sw. Crops of at least ``min_size`` LR pixels are chopped again. Since
    attention is global, the result differs from ``model(x)`` everywhere (by ~1e-4), as it did in the
    official benchmarks. Where the padded crop would exceed the input (LR height < 24 or small widths,
    a crash in the official code), the whole image is run instead.
    """
    s = int(scale if scale is not None else getattr(model, "scale"))
    h, w = x.shape[-2:]
    hh, wh, hs, ws = _chop_sizes(h, w, shave)
    if hs > h or ws > w:
        return model(x)
    crops = [x[..., :hs, :ws], x[..., :hs, w - ws:], x[..., h - hs:, :ws], x[..., h - hs:, w - ws:]]
    if hs * ws < min_size:
        outs = [model(crop) for crop in crops]
    else:
        outs = [forward_chop(model, crop, scale=s, shave=shave, min_size=min_size) for crop in crops]
    big_h, big_w, half_h, half_w, crop_h, crop_w = s * h, s * w, s * hh, s * wh, s * hs, s * ws
    top = torch.cat([outs[0][..., :half_h, :half_w], outs[1][..., :half_h, crop_w - big_w + half_w:]], -1)
    bottom = torch.cat([outs[2][..., crop_h - big_h + half_h:, :half_w],
                        outs[3][..., crop_h - big_h + half_h:, crop_w - big_w + half_w:]], -1)
    return torch.cat([top, bottom], -2)


# ----------------------------------------------------------------------------------------------------
# Official checkpoints.


def _tail_scale(sd: StateDict, n_feats: int) -> int | None:
    """Scale from the upsampler convs ``tail.0.{0,2,4..}``: n ×(4C) stages -> 2^n, one 9C conv -> 3."""
    stages = count_indexed(sd, "tail.0.{}.weight", step=2)
    if stages == 0:
        return None
    out = int(sd["tail.0.0.weight"].shape[0])
    if stages == 1 and out == 9 * n_feats:
        return 3
    return 2**stages if out == 4 * n_feats else None


def detect(sd: StateDict) -> dict[str, Any] | None:
    """Config of an official HSPAN state dict (G, B, C, r, scale from key names and shapes), else None.

    Recognised by the stray ``a`` and the HSPA keys ``body.<g>.body.<B>.conv_match1.0.weight``, which no
    other EDSR-family network has. ``topk``/``res_scale`` are not stored: official values are assumed.
    """
    needed = ("a", "sub_mean.weight", "add_mean.weight", "head.0.weight", "body.0.body.0.body.0.weight")
    if any(k not in sd for k in needed):
        return None
    n_resblocks = count_indexed(sd, "body.0.body.{}.body.0.weight")
    match = conv_width(sd, f"body.0.body.{n_resblocks}.conv_match1.0.weight")
    head = conv_width(sd, "head.0.weight")
    if match is None or head is None:
        return None
    n_feats = head[0]
    n_resgroups = count_indexed(sd, "body.{}.body.%d.conv_match1.0.weight" % n_resblocks)
    scale = _tail_scale(sd, n_feats)
    if scale is None or match[0] == 0:
        return None
    return {"scale": scale, "n_resgroups": n_resgroups, "n_resblocks": n_resblocks, "n_feats": n_feats,
            "reduction": max(1, n_feats // match[0])}


# official_params: trainable parameters, as for every registry entry: the spec §3 "all params" column (what
# the official main.py prints; param_counts.json "total_parameters") less the frozen MeanShift and `a`.
ENTRIES: tuple[NetworkEntry, ...] = (
    NetworkEntry(
        name="hspan",
        config_cls=HSPANConfig,
        build=build,
        scales=(2, 3, 4),
        official_params={2: 32_288_673, 3: 33_948_513, 4: 33_616_545},
        detect=detect,
        convert=same_layout,
        summary="HSPAN (TIP 2024): 10 HSPAMs x 4 LEBs, 192 ch, exact sparsemax global attention",
        chop=forward_chop,
    ),
)
