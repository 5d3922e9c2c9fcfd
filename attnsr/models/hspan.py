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
  chunks (exact: each row is thresholded independently, every chunk sees every key), the shift and
  threshold are applied only to the k candidates of each row, and the aggregation reads only the
  non-zero weights (``F.embedding_bag``; a dense matmul only for rows whose supports exceed P/8), so
  memory is O(chunk·P) and the dense P×P·C product is avoided for sparse rows.
* The solver is the official one (sorted top-k candidates, full sort once k >= P, so both official
  solver paths exist here too), except that a row whose support fills all k candidates is redone once
  with a window sized from the lower bound on τ the first pass gives, instead of doubling k repeatedly.
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
import torch.nn.functional as F
from torch import nn

from attnsr.errors import ConfigError
from attnsr.models.registry import NetworkEntry, StateDict
from attnsr.ops.common import MeanShift, Upsampler, default_conv

#: Elements of one query chunk's score block (rows × keys × batch) when ``chunk_size`` is automatic:
#: 2^24 float32 = 64 MiB: bounded memory at any image size, few enough chunks to keep overheads small.
AUTO_CHUNK_ELEMENTS = 1 << 24


@dataclass(frozen=True)
class HSPANConfig:
    """Constructor arguments; defaults are the README configuration (x2: 32,288,698 parameters).

    ``topk`` is the solver's initial candidate count: a speed knob only (outputs do not depend on it).
    ``chunk_size`` is the number of query rows whose scores are held at once (``None``: automatic,
    about :data:`AUTO_CHUNK_ELEMENTS` scores per chunk); it does not change outputs either.
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
# Exact sparsemax ("soft thresholding") attention, pure functions.


def sparsemax_threshold(z_desc: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Threshold τ and support size K of sparsemax from the leading candidates of each row.

    ``z_desc``: R×k, each row sorted descending (the k largest scores of the row, or all of them).
    Returns τ (R×1, same dtype) and K (R×1, int64) computed as the official solver does:
    c_j = z_1+...+z_j − 1, K = #{j: j·z_j > c_j}, τ = c_K / K. If K == k and the row has more
    than k entries, the true support may be larger and the row must be solved again with more candidates.
    """
    csum = z_desc.cumsum(-1) - 1
    ranks = torch.arange(1, z_desc.shape[-1] + 1, dtype=z_desc.dtype, device=z_desc.device)
    support = (ranks * z_desc > csum).sum(-1, keepdim=True)
    tau = csum.gather(-1, support - 1) / support.to(z_desc.dtype)
    return tau, support


#: A group whose widest support exceeds P / DENSE_RATIO is aggregated by a dense matmul instead of
#: gathering (BLAS beats a gather once supports are that wide, e.g. for untrained weights).
DENSE_RATIO = 8
#: Relative slack when counting possible support members (only makes a window larger, never wrong).
WINDOW_SLACK = 1e-4


def _wider_windows(scores: torch.Tensor, top: torch.Tensor, tau_low: torch.Tensor, k: int) -> torch.Tensor:
    """Window (k·2^j, j >= 1) that holds the support of rows whose first k candidates were all in it.

    τ = max_j c_j / j, so the τ computed from the first k candidates is a lower bound and every support
    member has score > top + τ_low. Counting those (with a small slack against rounding) gives a window
    that solves the row in one more top-k, where the official code doubles k until it fits.
    """
    slack = WINDOW_SLACK * (1 + top.abs())
    need = (scores > top + tau_low - slack).sum(-1)
    level = (need.to(torch.float64) / k).log2().ceil().clamp(min=1).long()
    return k << level


def _solve_window(
    scores: torch.Tensor, k: int, rows: torch.Tensor
) -> list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Official solver on R×P rows with a k-candidate window: groups (row ids, weights, key ids).

    Candidates: full descending sort when k >= P, else the sorted top k. z = candidates − row max (as the
    reference shifts, for identical rounding); weights clamp(z − τ, 0). Rows whose support fills the whole
    window may have a larger support and are solved again with a wider window (the official growth step,
    which doubles k instead of sizing it).
    """
    n_keys = scores.shape[-1]
    if k >= n_keys:  # official path 1: full descending sort, no window
        vals, idx = scores.sort(-1, descending=True)
    else:  # official path 2: top-k window
        vals, idx = scores.topk(k, dim=-1)
    z = vals - vals[:, :1]
    tau, support = sparsemax_threshold(z)
    weights = (z - tau).clamp(min=0)
    unsolved = (support.squeeze(-1) == k) if k < n_keys else None
    if unsolved is None or not bool(unsolved.any()):
        return [_trim(rows, weights, idx)]
    solved = ~unsolved
    groups = [_trim(rows[solved], weights[solved], idx[solved])] if bool(solved.any()) else []
    rest, rest_rows = scores[unsolved], rows[unsolved]
    widths = _wider_windows(rest, vals[unsolved, :1], tau[unsolved], k)
    distinct = torch.unique(widths).tolist()
    if len(distinct) == 1:
        return groups + _solve_window(rest, distinct[0], rest_rows)
    for width in distinct:
        sel = widths == width
        groups += _solve_window(rest[sel], width, rest_rows[sel])
    return groups


def _trim(rows: torch.Tensor, weights: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Cut a group to its widest non-zero prefix (weights are non-increasing along the candidates)."""
    width = max(1, int((weights > 0).sum(-1).max()))
    return rows, weights[:, :width], idx[:, :width]


def sparsemax_rows(scores: torch.Tensor, topk: int) -> list[tuple[torch.Tensor, ...]]:
    """Exact row-wise sparsemax of R×P ``scores``, sparsely: groups (row ids R_g, weights R_g×K_g, key ids
    R_g×K_g), every row in exactly one group. Dense equivalent: A[rows[i], idx[i, j]] = weights[i, j]."""
    return _solve_window(scores, topk, torch.arange(scores.shape[0], device=scores.device))


def _aggregate(weights: torch.Tensor, idx: torch.Tensor, image: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """Σ_j weights[r, j] · value[image[r], idx[r, j]] for each row r: R×C (value N×P×C)."""
    n, n_keys, channels = value.shape
    if weights.shape[1] * DENSE_RATIO <= n_keys:
        flat = idx + image[:, None] * n_keys
        return F.embedding_bag(flat, value.reshape(n * n_keys, channels), per_sample_weights=weights, mode="sum")
    dense = weights.new_zeros(weights.shape[0], n_keys).scatter(1, idx, weights)
    if n == 1:
        return dense @ value[0]
    out = weights.new_zeros(weights.shape[0], channels)
    for b in torch.unique(image).tolist():
        sel = (image == b).nonzero().squeeze(1)
        out = out.index_put((sel,), dense[sel] @ value[b])
    return out


def auto_chunk_size(batch: int, positions: int) -> int:
    """Query rows per chunk so that one chunk's scores hold about :data:`AUTO_CHUNK_ELEMENTS` numbers."""
    return max(1, min(positions, AUTO_CHUNK_ELEMENTS // max(1, batch * positions)))


def sparsemax_attention(
    query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, *, topk: int, chunk_size: int | None = None
) -> torch.Tensor:
    """Global attention normalised by exact row-wise sparsemax, computed in chunks of query rows.

    query N×P×Cq, key N×Cq×P, value N×P×C -> N×P×C, where out[n, i] = Σ_j A[n, i, j]·value[n, j] and
    A[n, i] = sparsemax_j(query[n, i]·key[n, :, j]). Never holds more than ``chunk_size`` rows of scores
    (automatic when ``None``); each chunk attends to all P keys, so chunking does not change the result.
    """
    n, positions, _ = query.shape
    if topk < 1:
        raise ConfigError(f"hspan: topk must be >= 1, got {topk}")
    step = chunk_size if chunk_size is not None else auto_chunk_size(n, positions)
    if step < 1:
        raise ConfigError(f"hspan: chunk_size must be >= 1, got {step}")
    value = value.contiguous()
    chunks = []
    for start in range(0, positions, step):
        q = query[:, start:start + step]
        m = q.shape[1]
        scores = torch.bmm(q, key).reshape(n * m, positions)
        image = torch.arange(n, device=query.device).repeat_interleave(m)
        groups = sparsemax_rows(scores, topk)
        if len(groups) == 1:  # one group holding every row in order
            out = _aggregate(groups[0][1], groups[0][2], image, value)
        else:
            out = scores.new_zeros(n * m, value.shape[-1])
            for rows, weights, idx in groups:
                out = out.index_put((rows,), _aggregate(weights, idx, image[rows], value))
        chunks.append(out.reshape(n, m, -1))
    return torch.cat(chunks, dim=1) if len(chunks) > 1 else chunks[0]


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

    Input/output N×C×H×W. ``topk`` and ``chunk_size`` are runtime knobs (attributes) that change speed
    and memory only.
    """

    def __init__(self, n_feats: int, reduction: int, res_scale: float, topk: int,
                 chunk_size: int | None = None) -> None:
        super().__init__()
        self.res_scale = res_scale
        self.topk = topk
        self.chunk_size = chunk_size
        self.conv_match1 = _embed(n_feats, n_feats // reduction)
        self.conv_match2 = _embed(n_feats, n_feats // reduction)
        self.conv_assembly = _embed(n_feats, n_feats)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        query, key, value = self.conv_match1(x), self.conv_match2(x), self.conv_assembly(x)
        n, c_embed, h, w = query.shape
        query = query.permute(0, 2, 3, 1).reshape(n, h * w, c_embed)
        key = key.reshape(n, c_embed, h * w)
        value = value.reshape(n, -1, h * w).transpose(1, 2)
        out = sparsemax_attention(query, key, value, topk=self.topk, chunk_size=self.chunk_size)
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

    def set_attention(self, *, topk: int | None = None, chunk_size: int | None | str = "keep") -> None:
        """Change the speed/memory knobs of every HSPA (``chunk_size=None`` means automatic)."""
        for module in self.modules():
            if isinstance(module, HSPA):
                if topk is not None:
                    module.topk = topk
                if chunk_size != "keep":
                    module.chunk_size = chunk_size  # type: ignore[assignment]


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
    stages = 0
    while f"tail.0.{2 * stages}.weight" in sd:
        stages += 1
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
    n_resblocks = 0
    while f"body.0.body.{n_resblocks}.body.0.weight" in sd:
        n_resblocks += 1
    match = sd.get(f"body.0.body.{n_resblocks}.conv_match1.0.weight")
    if match is None or match.ndim != 4 or sd["head.0.weight"].ndim != 4:
        return None
    n_feats = int(sd["head.0.weight"].shape[0])
    n_resgroups = 0
    while f"body.{n_resgroups}.body.{n_resblocks}.conv_match1.0.weight" in sd:
        n_resgroups += 1
    scale = _tail_scale(sd, n_feats)
    if scale is None or int(match.shape[0]) == 0:
        return None
    return {"scale": scale, "n_resgroups": n_resgroups, "n_resblocks": n_resblocks, "n_feats": n_feats,
            "reduction": max(1, n_feats // int(match.shape[0]))}


def convert(sd: StateDict, cfg: HSPANConfig) -> dict[str, torch.Tensor]:
    """Official keys are ours: a new dict (input never mutated); ``from_official`` checks keys/shapes."""
    del cfg
    return dict(sd)


# official_params: sum(p.numel() for p in model.parameters()), the spec §3 "all params" column (what the
# official main.py prints, MeanShift and `a` included; param_counts.json "total_parameters").
ENTRIES: tuple[NetworkEntry, ...] = (
    NetworkEntry(
        name="hspan",
        config_cls=HSPANConfig,
        build=build,
        scales=(2, 3, 4),
        official_params={2: 32_288_698, 3: 33_948_538, 4: 33_616_570},
        detect=detect,
        convert=convert,
        summary="HSPAN (TIP 2024): 10 HSPAMs x 4 LEBs, 192 ch, exact sparsemax global attention",
        chop=forward_chop,
    ),
)
