"""FSANet: Frequency-Separated Attention Network for image super-resolution.

Paper: D. Qu, L. Li, R. Yao, "Frequency-Separated Attention Network for Image Super-Resolution",
Applied Sciences 14(10):4238, 2024. Official code: github.com/Qudaokuan/FSANet @ 484539e, class
``FESNet`` in ``FESNet.py`` (the one its README/``sample.py``/``test.sh`` use). Spec: specs/fsanet.md.

Structure: mean shift -> WN conv -> two ResASPP groups (FEM) -> ``n_blocks`` FSABs, each a low-frequency
chain (LFAB x3, channel attention) plus a high-frequency chain (HFAB x3: back-projection at HR
resolution, channel + spatial attention) -> concat conv -> grouped pixel-shuffle upsampler -> WN conv,
plus a global bicubic skip of the mean-subtracted input.

Differences from the official code (none change outputs or keys):
* weight norm is :class:`attnsr.ops.weight_norm.WNConv2d` (same ``bias/weight_g/weight_v`` keys, same
  kernel) instead of the deprecated ``torch.nn.utils.weight_norm`` hook, so ``convert`` only checks and copies;
* no ``.cuda()``; works at any input size, device and dtype;
* :func:`forward_chop` reproduces ``sample.py``'s four-quadrant testing protocol; for images smaller
  than twice the shave it clamps the patches to the image (the official slicing would give patches of
  unequal size there and fail to batch them).

Parameter counts (``official_params``) are trainable parameters, as for every registry entry: the spec
table's main column (what ``solver.py`` prints, weight-norm ``weight_g`` vectors included) less the 24
frozen MeanShift values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from attnsr.errors import CheckpointError, ConfigError
from attnsr.models.checkpoint import check_keys
from attnsr.models.keys import key_indices
from attnsr.models.registry import NetworkEntry, StateDict
from attnsr.ops.common import MeanShift as _Shift1x1
from attnsr.ops.weight_norm import WNConv2d

FEATS = 64  # every feature width is hard-coded to 64 in the official code

# (kernel, stride, padding) of the back-projection (de)convolutions: H -> sH -> H exactly.
BP_GEOMETRY: dict[int, tuple[int, int, int]] = {2: (6, 2, 2), 3: (9, 3, 3), 4: (8, 4, 2)}


@dataclass(frozen=True)
class FSANetConfig:
    """Constructor arguments of the official ``FESNet`` (README / ``sample.py`` values as defaults).

    scale:    2, 3 or 4 (the back-projection blocks support no other factor).
    n_blocks: number of FSAB blocks in the body (official 3; the class default 1 is not what was run).
    group:    groups of the upsampler conv(s) (official 4; must divide 64).
    """

    scale: int = 2
    n_blocks: int = 3
    group: int = 4

    def __post_init__(self) -> None:
        if self.scale not in BP_GEOMETRY:
            raise ConfigError(f"fsanet: scale must be one of {sorted(BP_GEOMETRY)}, got {self.scale}")
        if self.n_blocks < 1:
            raise ConfigError(f"fsanet: n_blocks must be >= 1, got {self.n_blocks}")
        if self.group < 1 or FEATS % self.group:
            raise ConfigError(f"fsanet: group must divide {FEATS}, got {self.group}")


# ----------------------------------------------------------------------------------------- blocks


def conv(in_ch: int, out_ch: int, k: int = 3) -> nn.Conv2d:
    """Plain 'same' conv with bias (odd k)."""
    return nn.Conv2d(in_ch, out_ch, k, padding=k // 2)


class MeanShift(nn.Module):
    """Frozen 1x1 colour conv under attribute ``shifter`` (official keys ``*.shifter.weight/bias``).

    The loaded values are used (official checkpoints hold the DIV2K mean, identity weight).
    """

    def __init__(self, sign: int) -> None:
        super().__init__()
        self.shifter = _Shift1x1(sign=sign)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shifter(x)


class ResidualBlock(nn.Module):
    """``relu(x + conv2(relu(conv1(x))))`` (ReLU after the addition); WN convs inside ResASPP groups."""

    def __init__(self, weight_norm: bool) -> None:
        super().__init__()
        self.conv1 = WNConv2d(FEATS, FEATS, 3, padding=1) if weight_norm else conv(FEATS, FEATS)
        self.conv2 = WNConv2d(FEATS, FEATS, 3, padding=1) if weight_norm else conv(FEATS, FEATS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.conv2(F.relu(self.conv1(x))))


class ASPPBlock(nn.Module):
    """Three dilated WN 3x3 convs (dilation = padding = 1, 4, 8) + ReLU, concatenated, fused by a WN 1x1."""

    def __init__(self) -> None:
        super().__init__()
        # Official quirk: nn.Sequential([conv, ReLU]) wrappers -> keys ``convK.0.*``.
        self.conv1 = nn.Sequential(WNConv2d(FEATS, FEATS, 3, padding=1, dilation=1), nn.ReLU())
        self.conv2 = nn.Sequential(WNConv2d(FEATS, FEATS, 3, padding=4, dilation=4), nn.ReLU())
        self.conv3 = nn.Sequential(WNConv2d(FEATS, FEATS, 3, padding=8, dilation=8), nn.ReLU())
        self.conv4 = WNConv2d(3 * FEATS, FEATS, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv4(torch.cat([self.conv1(x), self.conv2(x), self.conv3(x)], dim=1))


class ResASPP(nn.Module):
    """Official ``ASPP2``: three ASPP blocks chained on raw outputs, summed with the input, then a WN residual."""

    def __init__(self) -> None:
        super().__init__()
        self.ASPP2_block1 = ASPPBlock()
        self.ASPP2_block2 = ASPPBlock()
        self.ASPP2_block3 = ASPPBlock()
        self.residual1 = ResidualBlock(weight_norm=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Official quirk: B2 sees o1 (not x + o1); the sum is only an accumulator.
        o1 = self.ASPP2_block1(x)
        o2 = self.ASPP2_block2(o1)
        o3 = self.ASPP2_block3(o2)
        return self.residual1(((o1 + x) + o2) + o3)


class ChannelAttention(nn.Module):
    """Official ``Channal_Attention``: global average pool -> 1x1 64->4 -> ReLU -> 1x1 4->64 -> sigmoid -> scale."""

    def __init__(self) -> None:
        super().__init__()
        self.ca_conv1 = nn.Conv2d(FEATS, 4, 1)
        self.ca_conv2 = nn.Conv2d(4, FEATS, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.ca_conv2(F.relu(self.ca_conv1(a))))


class AttentionBlock(nn.Module):
    """Channel attention and spatial attention side by side: returns cat(CA(x), SA(x)), 128 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.channal_attention = ChannelAttention()  # official spelling (key path)
        self.sa_conv1 = nn.Conv2d(FEATS, 2 * FEATS, 1)
        self.sa_conv2 = nn.Conv2d(2 * FEATS, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = torch.sigmoid(self.sa_conv2(F.relu(self.sa_conv1(x))))
        # Official quirk: concatenation, not a sum -> HFAB outputs 128 channels.
        return torch.cat([self.channal_attention(x), b * x], dim=1)


class LFAB(nn.Module):
    """Low-frequency attention block (official ``LFM``): 3x3 and 5x5 two-conv branches, residual, CA."""

    def __init__(self) -> None:
        super().__init__()
        self.up_conv1 = conv(FEATS, FEATS, 3)
        self.up_conv2 = conv(FEATS, FEATS, 3)
        self.dn_conv1 = conv(FEATS, FEATS, 5)
        self.dn_conv2 = conv(FEATS, FEATS, 5)
        self.residual = ResidualBlock(weight_norm=False)
        self.attention = ChannelAttention()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.up_conv2(F.relu(self.up_conv1(x)))
        d = self.dn_conv2(F.relu(self.dn_conv1(x)))
        return self.attention(self.residual(u + d + x))


class BPBlock(nn.Module):
    """Back-projection: deconv up (H -> sH), 3x3 conv at sH, strided conv down (sH -> H), ReLU after each."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        k, s, p = BP_GEOMETRY[scale]
        self.dconv = nn.ConvTranspose2d(FEATS, FEATS, k, stride=s, padding=p)
        self.conv1 = conv(FEATS, FEATS, 3)
        self.conv2 = nn.Conv2d(FEATS, FEATS, k, stride=s, padding=p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(F.relu(self.conv1(F.relu(self.dconv(x))))))


class HFAB(nn.Module):
    """High-frequency attention block (official ``HFM``): three back-projection residuals, fused, attention."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.bp1 = BPBlock(scale)
        self.residual1 = ResidualBlock(weight_norm=False)
        self.bp2 = BPBlock(scale)
        self.residual2 = ResidualBlock(weight_norm=False)
        self.bp3 = BPBlock(scale)
        self.residual3 = ResidualBlock(weight_norm=False)
        self.conv = conv(4 * FEATS, FEATS, 3)
        self.attention = AttentionBlock()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p1 = self.residual1(self.bp1(x) - x)
        p2 = self.residual2(self.bp2(p1) - p1)
        # Official quirk: the third stage subtracts p1, not p2.
        p3 = self.residual3(self.bp3(p2) - p1)
        return self.attention(F.relu(self.conv(torch.cat([x, p1, p2, p3], dim=1))))


class Chain(nn.Module):
    """Three blocks with dense fusion (official ``LFM_Chain``/``HFM_Chain``); ``width`` = block output channels."""

    def __init__(self, blocks: list[nn.Module], width: int, prefix: str) -> None:
        super().__init__()
        self._names = (f"{prefix}1", f"{prefix}2", f"{prefix}3")
        self.add_module(self._names[0], blocks[0])
        self.conv1 = conv(width, FEATS, 3)
        self.add_module(self._names[1], blocks[1])
        self.conv2 = conv(2 * width, FEATS, 3)
        self.add_module(self._names[2], blocks[2])
        self.conv3 = conv(3 * width, FEATS, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b1, b2, b3 = (getattr(self, n) for n in self._names)
        y1 = b1(x)
        y2 = b2(self.conv1(y1))
        y3 = b3(self.conv2(torch.cat([y1, y2], dim=1)))
        return self.conv3(torch.cat([y1, y2, y3], dim=1))


class FSAB(nn.Module):
    """Frequency-separated attention block: ``relu(conv(LF_chain(x) + HF_chain(x)))`` (no identity skip)."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.lfm_chain = Chain([LFAB() for _ in range(3)], FEATS, "lfm")
        self.hfm_chain = Chain([HFAB(scale) for _ in range(3)], 2 * FEATS, "hfm")
        self.conv = conv(FEATS, FEATS, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(self.lfm_chain(x) + self.hfm_chain(x)))


class _UpsampleBody(nn.Module):
    """Official ``_UpsampleBlock``: per stage [grouped WN conv 64->r^2*64, ReLU, PixelShuffle(r)]."""

    def __init__(self, scale: int, group: int) -> None:
        super().__init__()
        stages = [2, 2] if scale == 4 else [scale]
        layers: list[nn.Module] = []
        for r in stages:
            # Official quirk: ReLU between the conv and the pixel shuffle.
            layers += [WNConv2d(FEATS, r * r * FEATS, 3, padding=1, groups=group), nn.ReLU(), nn.PixelShuffle(r)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Upsampler(nn.Module):
    """Official ``UpsampleBlock(multi_scale=False)``: holds the body as ``up`` (keys ``upscample.up.body.N``)."""

    def __init__(self, scale: int, group: int) -> None:
        super().__init__()
        self.up = _UpsampleBody(scale, group)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(x)


# ------------------------------------------------------------------------------------------ model


class FSANet(nn.Module):
    """Official ``FESNet``. Input N x 3 x H x W RGB in [0, 1] (any H, W); output N x 3 x sH x sW, unclamped."""

    def __init__(self, scale: int = 2, n_blocks: int = 3, group: int = 4) -> None:
        super().__init__()
        FSANetConfig(scale, n_blocks, group)  # validates
        self.scale = scale
        self.sub_mean = MeanShift(sign=-1)
        self.add_mean = MeanShift(sign=+1)
        self.entry_1 = WNConv2d(3, FEATS, 3, padding=1)
        self.assp_residual1 = ResASPP()  # official spelling (key path)
        self.assp_residual2 = ResASPP()
        self.body = nn.Sequential(*[FSAB(scale) for _ in range(n_blocks)])
        self.concat_conv = conv(FEATS * n_blocks, FEATS, 3)
        self.upscample = Upsampler(scale, group)  # official spelling (key path)
        self.exit = WNConv2d(FEATS, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.sub_mean(x)
        f = self.entry_1(x)
        # Official quirk: an outer skip around the first ResASPP group only.
        c = self.assp_residual2(f + self.assp_residual1(f))
        outs = []
        for block in self.body:
            c = block(c)
            outs.append(c)
        r = self.exit(self.upscample(self.concat_conv(torch.cat(outs, dim=1))))
        h, w = x.shape[-2:]
        skip = F.interpolate(x, size=(h * self.scale, w * self.scale), mode="bicubic", align_corners=False)
        return self.add_mean(skip + r)


def forward_chop(model: nn.Module, x: torch.Tensor, *, scale: int | None = None, shave: int = 20) -> torch.Tensor:
    """The official testing protocol (``sample.py``): four overlapping quadrant patches, one batch.

    x: N x 3 x h x w. Each patch is (h//2 + shave) x (w//2 + shave), clamped to the image; the patches
    (TL, TR, BL, BR) run as one batch of 4N, and each output quadrant is cut from its own patch. Because
    FSANet's attention pools over the whole patch, the result differs from ``model(x)`` everywhere; use
    this to reproduce the paper's numbers. ``scale`` defaults to ``model.scale``. Call under no_grad.
    """
    s = int(scale if scale is not None else getattr(model, "scale"))
    if shave < 0:
        raise ConfigError(f"forward_chop: shave must be >= 0, got {shave}")
    n, _, h, w = x.shape
    hh, wh = h // 2, w // 2
    hc, wc = min(hh + shave, h), min(wh + shave, w)
    patches = torch.cat([
        x[..., :hc, :wc], x[..., :hc, w - wc:], x[..., h - hc:, :wc], x[..., h - hc:, w - wc:],
    ], dim=0)
    tl, tr, bl, br = model(patches).split(n, dim=0)
    r0, c0 = s * (hc - (h - hh)), s * (wc - (w - wh))  # where the bottom/right quadrants start in a patch
    top = torch.cat([tl[..., : s * hh, : s * wh], tr[..., : s * hh, c0:]], dim=3)
    bottom = torch.cat([bl[..., r0:, : s * wh], br[..., r0:, c0:]], dim=3)
    return torch.cat([top, bottom], dim=2)


# ------------------------------------------------------------------------------ variants, converter


def build(cfg: FSANetConfig) -> FSANet:
    """The network for ``cfg``."""
    return FSANet(scale=cfg.scale, n_blocks=cfg.n_blocks, group=cfg.group)


_UP0 = "upscample.up.body.0.weight_v"
_SIGNATURE = ("sub_mean.shifter.weight", "entry_1.weight_v", "assp_residual1.ASPP2_block1.conv1.0.weight_v", _UP0)


def _scale_from_keys(sd: StateDict) -> int:
    """Scale from the upsampler (one or two stages, 4x or 9x channels), checked against the BP kernel."""
    out_ch = sd[_UP0].shape[0]
    up_scale = 4 if "upscample.up.body.3.weight_v" in sd else {4 * FEATS: 2, 9 * FEATS: 3}.get(out_ch)
    bp = sd.get("body.0.hfm_chain.hfm1.bp1.dconv.weight")
    bp_scale = None if bp is None else {v[0]: k for k, v in BP_GEOMETRY.items()}.get(bp.shape[-1])
    if up_scale is None or (bp is not None and bp_scale != up_scale):
        raise CheckpointError(
            f"fsanet: cannot infer scale: {_UP0} {tuple(sd[_UP0].shape)}, "
            f"bp dconv {None if bp is None else tuple(bp.shape)}"
        )
    return up_scale


def detect(sd: StateDict) -> dict[str, Any] | None:
    """Config kwargs (scale, n_blocks, group) of an official FSANet state dict, or None if it is not one."""
    if not all(k in sd for k in _SIGNATURE):
        return None
    indices = key_indices(sd, r"^body\.(\d+)\.")
    if indices != set(range(len(indices))) or not indices:
        raise CheckpointError(f"fsanet: body block indices are not 0..n-1: {sorted(indices)}")
    per_group = sd[_UP0].shape[1]
    if per_group < 1 or FEATS % per_group:
        raise CheckpointError(f"fsanet: {_UP0} {tuple(sd[_UP0].shape)} implies no integer group of {FEATS} channels")
    group = FEATS // per_group
    return {"scale": _scale_from_keys(sd), "n_blocks": len(indices), "group": group}


def convert(sd: StateDict, cfg: FSANetConfig) -> dict[str, torch.Tensor]:
    """Official keys are our keys (weight norm kept as ``weight_g``/``weight_v``): a checked new dict.

    Raises one CheckpointError listing every missing, unexpected and mis-shaped key; ``sd`` is untouched.
    """
    with torch.device("meta"):  # the expected layout without allocating or initialising weights
        expected = build(cfg).state_dict()
    check_keys(expected, sd, where=f"fsanet x{cfg.scale} n_blocks={cfg.n_blocks} group={cfg.group}")
    return {k: v for k, v in sd.items()}


# Counts = sum(p.numel() for p in model.parameters()) at n_blocks=3, group=4 (spec §4 table, main column).
ENTRIES: tuple[NetworkEntry, ...] = (
    NetworkEntry(
        name="fsanet",
        config_cls=FSANetConfig,
        build=build,
        scales=(2, 3, 4),
        official_params={2: 18_687_703, 3: 28_687_703, 4: 24_918_231},
        detect=detect,
        convert=convert,
        summary="FSANet (Qu et al. 2024): frequency-separated attention, back-projection HF branch, x2/x3/x4",
        chop=forward_chop,
    ),
)
