"""DFSA: "Dynamic High-Pass Filtering and Multi-Spectral Attention for Image Super-Resolution",
S. Abdel Magid, Y. Zhang, D. Wei, W.-D. Jang, Z. Lin, Y. Fu, H. Pfister, ICCV 2021 (DOI
10.1109/ICCV48922.2021.00425). Official repository: README only — no code, no weights.

A re-implementation from the paper's description (spec ``dfsa.md``; every reconstruction choice is a config
field so the ablations can be run): the RCAN backbone (``attnsr.models.rcan``, same key names) with
  * MMCA (``attnsr.ops.mmca``) replacing channel attention in every block, and
  * dynamic high-pass filtering (``attnsr.ops.hpf``) once per residual group, after the group's last conv
    and before its skip (``hpf_placement="group"``), or inside every block before the attention ("block").
An EDSR backbone (spec §4.4) is available with ``backbone="edsr"`` (MMCA, and HPF per block, at the end of
each ResBlock branch before ``res_scale``). ``attention="ca", hpf_placement="none"`` is exactly RCAN (an
RCAN state dict loads into it); with ``backbone="edsr", attention="none"`` it is exactly EDSR.

No paper number exists to check against (spec §6.3): parameter counts are the spec's formula (§4.3).
Key layout inside a block: ``body.{0,2}`` convs, then ``body.3`` = HPF (block placement) or attention,
``body.4`` = attention after a block HPF; group HPF = ``body.{g}.body.{n_resblocks + 1}``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import torch
from torch import nn

from attnsr.errors import ConfigError
from attnsr.models.keys import conv_width, fits_grammar, infer_rgb_range, infer_scale, key_indices, same_layout
from attnsr.models.registry import NetworkEntry, StateDict
from attnsr.ops.common import DIV2K_MEAN, CALayer, MeanShift, Upsampler, default_conv
from attnsr.ops.dct import FREQ_RANKINGS, RANKING_GRID
from attnsr.ops.hpf import HPF_MODES, SOFTMAX_SCOPES, DynamicHighPass
from attnsr.ops.mmca import EXCITATIONS, MMCA

Maps = dict[str, torch.Tensor]
ModuleFactory = Callable[[], nn.Module]

_CHOICES: dict[str, tuple[Any, ...]] = {
    "backbone": ("rcan", "edsr"),
    "attention": ("mmca", "ca", "none"),
    "mmca_excitation": EXCITATIONS,
    "freq_select": tuple(FREQ_RANKINGS),
    "hpf_placement": ("group", "block", "none"),
    "hpf_softmax": SOFTMAX_SCOPES,
    "hpf_mode": HPF_MODES,
}


@dataclass(frozen=True)
class DFSAConfig:
    """DFSA reference configuration (spec §4.2; §7 lists why each [A] choice was made)."""

    scale: int = 2
    backbone: str = "rcan"  # "rcan" (paper) | "edsr" (spec §4.4)
    n_resgroups: int = 10  # RCAN backbone only
    n_resblocks: int = 20  # per group (RCAN) / in the trunk (EDSR: 16 baseline, 32 large)
    n_feats: int = 64
    res_scale: float = 1.0  # EDSR only; RCAN's blocks ignore it as the official code does
    rgb_range: float = 255.0
    attention: str = "mmca"  # "mmca" | "ca" (RCAN) | "none"
    reduction: int = 16
    mmca_excitation: str = "flatten"  # A10: "flatten" | "freqmix" | "fcanet"
    n_freqs: int = 16  # A9: FcaNet top16
    freq_select: str = "top"  # "top" | "low" | "bot" (FcaNet rankings)
    dct_size: int | None = 7  # A8: pooled DCT grid (multiple of 7); None = DCT of the whole map (A7)
    hpf_placement: str = "group"  # A6: "group" | "block" | "none"
    hpf_kernel: int = 3  # A1
    hpf_groups: int = 8  # A2
    hpf_softmax: str = "group"  # A3: "group" | "all" (Zou's joint softmax)
    hpf_mode: str = "residual"  # A5: "residual" | "highpass" | "concat"

    def __post_init__(self) -> None:
        for key, allowed in _CHOICES.items():
            if getattr(self, key) not in allowed:
                raise ConfigError(f"dfsa: {key}={getattr(self, key)!r} not in {allowed}")
        if self.scale not in (2, 3, 4, 8):
            raise ConfigError(f"dfsa: scale must be 2, 3, 4 or 8, got {self.scale}")
        if min(self.n_resgroups, self.n_resblocks, self.n_feats) < 1:
            raise ConfigError(f"dfsa: n_resgroups/n_resblocks/n_feats must be >= 1, got {self}")
        if self.backbone == "edsr" and self.hpf_placement == "group":
            raise ConfigError("dfsa: backbone='edsr' has no residual groups; use hpf_placement 'block' or 'none'")
        if self.attention != "none" and self.n_feats % self.reduction != 0:
            raise ConfigError(f"dfsa: reduction {self.reduction} must divide n_feats {self.n_feats}")
        if self.attention == "mmca":
            self._check_mmca()
        if self.hpf_placement != "none":
            if self.n_feats % self.hpf_groups != 0:
                raise ConfigError(f"dfsa: hpf_groups {self.hpf_groups} must divide n_feats {self.n_feats}")
            if self.hpf_kernel < 1 or self.hpf_kernel % 2 == 0:
                raise ConfigError(f"dfsa: hpf_kernel must be odd and >= 1, got {self.hpf_kernel}")

    def _check_mmca(self) -> None:
        if not 1 <= self.n_freqs <= len(FREQ_RANKINGS["top"][0]):
            raise ConfigError(f"dfsa: n_freqs must be in 1..32, got {self.n_freqs}")
        if self.dct_size is not None and (self.dct_size < 1 or self.dct_size % RANKING_GRID != 0):
            raise ConfigError(f"dfsa: dct_size must be a multiple of 7 or None, got {self.dct_size}")
        if self.mmca_excitation == "fcanet" and self.n_feats % self.n_freqs != 0:
            raise ConfigError(f"dfsa: mmca_excitation='fcanet' needs n_freqs {self.n_freqs} to divide "
                              f"n_feats {self.n_feats}")


def _run(body: nn.Sequential, x: torch.Tensor, maps: Maps | None, prefix: str) -> torch.Tensor:
    """Apply ``body`` in order; HPF modules record their high-pass map under their state-dict path."""
    for i, module in enumerate(body):
        if isinstance(module, DynamicHighPass):
            x, hf = module.forward_parts(x)
            if maps is not None:
                maps[f"{prefix}.{i}"] = hf
        elif isinstance(module, (AttentionBlock, HPFGroup)):
            x = module(x, maps, f"{prefix}.{i}.body")
        else:
            x = module(x)
    return x


class AttentionBlock(nn.Module):
    """RCAB / EDSR ResBlock: x + res_scale·[attention(hpf(conv(ReLU(conv(x)))))]; B×C×H×W -> same."""

    def __init__(self, n_feats: int, attention: ModuleFactory | None, hpf: ModuleFactory | None,
                 res_scale: float = 1.0) -> None:
        super().__init__()
        layers: list[nn.Module] = [default_conv(n_feats, n_feats, 3), nn.ReLU(inplace=True),
                                   default_conv(n_feats, n_feats, 3)]
        layers += [hpf()] if hpf is not None else []
        layers += [attention()] if attention is not None else []
        self.body = nn.Sequential(*layers)
        self.res_scale = res_scale

    def forward(self, x: torch.Tensor, maps: Maps | None = None, prefix: str = "body") -> torch.Tensor:
        res = _run(self.body, x, maps, prefix)
        return x + (res * self.res_scale if self.res_scale != 1.0 else res)


class HPFGroup(nn.Module):
    """RCAN residual group: blocks, a conv, then (optionally) one HPF, with a short skip."""

    def __init__(self, n_feats: int, n_resblocks: int, attention: ModuleFactory | None,
                 block_hpf: ModuleFactory | None, group_hpf: ModuleFactory | None) -> None:
        super().__init__()
        layers: list[nn.Module] = [AttentionBlock(n_feats, attention, block_hpf) for _ in range(n_resblocks)]
        layers.append(default_conv(n_feats, n_feats, 3))
        layers += [group_hpf()] if group_hpf is not None else []
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, maps: Maps | None = None, prefix: str = "body") -> torch.Tensor:
        return _run(self.body, x, maps, prefix) + x


def _factories(cfg: DFSAConfig) -> tuple[ModuleFactory | None, ModuleFactory | None]:
    """(attention, hpf) module factories for ``cfg`` (None where the module is switched off)."""
    attention: ModuleFactory | None = None
    if cfg.attention == "ca":
        attention = partial(CALayer, cfg.n_feats, cfg.reduction)
    elif cfg.attention == "mmca":
        attention = partial(MMCA, cfg.n_feats, cfg.reduction, cfg.n_freqs, cfg.freq_select, cfg.dct_size,
                            cfg.mmca_excitation)
    hpf: ModuleFactory | None = None
    if cfg.hpf_placement != "none":
        hpf = partial(DynamicHighPass, cfg.n_feats, cfg.hpf_kernel, cfg.hpf_groups, cfg.hpf_softmax, cfg.hpf_mode)
    return attention, hpf


class DFSA(nn.Module):
    """DFSA; input B×3×H×W RGB in [0, 1] (any H, W ≥ 1), output B×3×(sH)×(sW) RGB ~[0, 1] (not clamped)."""

    def __init__(self, cfg: DFSAConfig) -> None:
        super().__init__()
        f = cfg.n_feats
        attention, hpf = _factories(cfg)
        self.rgb_range = cfg.rgb_range
        self.sub_mean = MeanShift(cfg.rgb_range, DIV2K_MEAN, sign=-1)
        self.head = nn.Sequential(default_conv(3, f, 3))
        trunk: list[nn.Module]
        if cfg.backbone == "rcan":
            block_hpf = hpf if cfg.hpf_placement == "block" else None
            group_hpf = hpf if cfg.hpf_placement == "group" else None
            trunk = [HPFGroup(f, cfg.n_resblocks, attention, block_hpf, group_hpf) for _ in range(cfg.n_resgroups)]
        else:
            trunk = [AttentionBlock(f, attention, hpf, cfg.res_scale) for _ in range(cfg.n_resblocks)]
        trunk.append(default_conv(f, f, 3))
        self.body = nn.Sequential(*trunk)
        self.tail = nn.Sequential(Upsampler(cfg.scale, f), default_conv(f, 3, 3))
        self.add_mean = MeanShift(cfg.rgb_range, DIV2K_MEAN, sign=1)

    def _forward(self, x: torch.Tensor, maps: Maps | None) -> torch.Tensor:
        x = self.head(self.sub_mean(x * self.rgb_range))
        x = _run(self.body, x, maps, "body") + x
        return self.add_mean(self.tail(x)) / self.rgb_range

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._forward(x, None)

    def forward_with_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, Maps]:
        """Output and every HPF's high-pass feature map ``x - L`` (B×n_feats×H×W, LR resolution, in the
        network's 0-255 feature units), keyed by the HPF's state-dict path (e.g. ``"body.0.body.21"``), in
        forward order. Empty dict when ``hpf_placement="none"``."""
        maps: Maps = {}
        return self._forward(x, maps), maps


def build(cfg: DFSAConfig) -> DFSA:
    return DFSA(cfg)


# ---------------------------------------------------------------------------------------- named variants

#: Ablations of spec §4.3 / §7 as config overrides (use with ``create("dfsa", scale=s, **ABLATIONS[name])``).
ABLATIONS: dict[str, dict[str, Any]] = {
    "reference": {},
    "mmca_only": {"hpf_placement": "none"},
    "freqmix": {"mmca_excitation": "freqmix"},
    "hpf_block": {"hpf_placement": "block"},
    "freqmix_hpf_block": {"mmca_excitation": "freqmix", "hpf_placement": "block"},
    "fcanet": {"mmca_excitation": "fcanet"},
    "hpf_only": {"attention": "ca"},
    "rcan": {"attention": "ca", "hpf_placement": "none"},
}

#: EDSR-baseline backbone (16 blocks, 64 feats, res_scale 1) with MMCA and one HPF per block (spec §4.4).
EDSR_BASELINE: dict[str, Any] = {"backbone": "edsr", "n_resblocks": 16, "hpf_placement": "block"}


# --------------------------------------------------------------------------------------------- detection

_HPF_KEY = r"(?:kernel_conv\.weight|kernel_bn\.(?:weight|bias|running_mean|running_var|num_batches_tracked)" \
           r"|fuse\.(?:weight|bias))"
_ATT_KEY = r"(?:conv_du\.[02]\.(?:weight|bias)|freq_weight)"
_WB = r"\.(?:weight|bias)"
_COMMON = rf"(?:(?:sub_mean|add_mean|head\.0|tail\.1|tail\.0\.\d+|body\.\d+){_WB})"
_KEY_GRAMMAR = {
    "rcan": re.compile(
        rf"^(?:{_COMMON}|body\.\d+\.body\.\d+(?:{_WB}|\.{_HPF_KEY})|body\.\d+\.body\.\d+\.body\.[02]{_WB}"
        rf"|body\.\d+\.body\.\d+\.body\.[34]\.(?:{_HPF_KEY}|{_ATT_KEY}))$"
    ),
    "edsr": re.compile(
        rf"^(?:{_COMMON}|body\.\d+\.body\.[02]{_WB}|body\.\d+\.body\.[34]\.(?:{_HPF_KEY}|{_ATT_KEY}))$"
    ),
}


def _attention_fields(sd: StateDict, prefix: str, n_feats: int) -> dict[str, Any]:
    """Attention config from the block whose attention keys start with ``prefix`` (e.g. 'body.0.body.0.body.3')."""
    conv = conv_width(sd, f"{prefix}.conv_du.0.weight")
    if conv is None:
        return {"attention": "none"}
    out_ch, in_ch = conv
    fields: dict[str, Any] = {"reduction": max(1, n_feats // max(1, out_ch))}
    mix = sd.get(f"{prefix}.freq_weight")
    if mix is not None:
        return {**fields, "attention": "mmca", "mmca_excitation": "freqmix", "n_freqs": int(mix.numel())}
    if in_ch == n_feats:
        return {**fields, "attention": "ca"}  # also MMCA "fcanet", which has no extra parameters
    return {**fields, "attention": "mmca", "mmca_excitation": "flatten", "n_freqs": in_ch // n_feats}


def _hpf_fields(sd: StateDict, prefix: str | None) -> dict[str, Any]:
    """HPF kernel size, groups and (if fused) mode from the HPF whose keys start with ``prefix``."""
    w = sd.get(f"{prefix}.kernel_conv.weight") if prefix is not None else None
    if w is None or w.ndim != 4:
        return {"hpf_placement": "none"}
    k = int(w.shape[-1])
    fields: dict[str, Any] = {"hpf_kernel": k, "hpf_groups": max(1, int(w.shape[0]) // (k * k))}
    if f"{prefix}.fuse.weight" in sd:
        fields["hpf_mode"] = "concat"
    return fields


def detect(sd: StateDict) -> dict[str, Any] | None:
    """Config of a DFSA state dict (ours, saved as a plain state dict), or None when the keys are not DFSA's.

    Inferred from keys/shapes: backbone, groups, blocks, features, attention kind, reduction, MMCA excitation
    ("flatten"/"freqmix") and n_freqs, HPF placement, kernel size, groups, "concat" mode, scale, rgb_range.
    Not visible in a state dict (defaults; pass overrides): freq_select, dct_size, hpf_softmax,
    "residual" vs "highpass", res_scale, and MMCA "fcanet" (read as attention="ca"). A plain RCAN dict fits
    (attention="ca", no HPF; "rcan" claims it first in registry order); a plain EDSR dict is not claimed.
    """
    head = conv_width(sd, "head.0.weight")
    if head is None or "tail.1.weight" not in sd:
        return None
    backbone = "rcan" if "body.0.body.0.body.0.weight" in sd else "edsr" if "body.0.body.0.weight" in sd else None
    if backbone is None or not fits_grammar(sd, _KEY_GRAMMAR[backbone]):
        return None
    n_feats = head[0]
    found: dict[str, Any] = {"backbone": backbone, "n_feats": n_feats}
    if backbone == "rcan":
        found["n_resgroups"] = len(key_indices(sd, r"^body\.(\d+)\.body\.0\.body\.0\.weight$"))
        found["n_resblocks"] = len(key_indices(sd, r"^body\.0\.body\.(\d+)\.body\.0\.weight$"))
        block = "body.0.body.0.body"
    else:
        found["n_resblocks"] = len(key_indices(sd, r"^body\.(\d+)\.body\.0\.weight$"))
        block = "body.0.body"
    if f"{block}.3.kernel_conv.weight" in sd:
        found.update(_hpf_fields(sd, f"{block}.3"), hpf_placement="block")
        found.update(_attention_fields(sd, f"{block}.4", n_feats))
    else:
        group_hpf = f"body.0.body.{found['n_resblocks'] + 1}" if backbone == "rcan" else None
        found.update(_hpf_fields(sd, group_hpf))
        found.setdefault("hpf_placement", "group")
        found.update(_attention_fields(sd, f"{block}.3", n_feats))
    if backbone == "edsr" and found["attention"] == "none" and found["hpf_placement"] == "none":
        return None  # plain EDSR: not a DFSA checkpoint
    scale = infer_scale(sd, n_feats)
    found.update(scale=scale if scale is not None else 2, rgb_range=infer_rgb_range(sd))
    return found


def detect_edsr(sd: StateDict) -> dict[str, Any] | None:
    """:func:`detect`, for EDSR-backbone dicts only (``arch="dfsa_edsr"``)."""
    found = detect(sd)
    return found if found is not None and found["backbone"] == "edsr" else None


# --------------------------------------------------------------------------------------- registry entries

# Trainable parameters (frozen MeanShift excluded), spec §4.3: P_RCAN + 200·(4,420 − 580) + 10·41,616.
DFSA_PARAMS = {2: 16_628_803, 3: 16_813_443, 4: 16_776_515}
# EDSR-baseline variant: no published count; the spec §4.3 building blocks give
# 1,792 + 16·(2·36,928 + 4,420 + 41,616) + 36,928 + upsampler (x2 147,712 / x3 332,352 / x4 295,424) + 1,731.
DFSA_EDSR_PARAMS = {2: 2_106_435, 3: 2_291_075, 4: 2_254_147}

ENTRIES: tuple[NetworkEntry, ...] = (
    NetworkEntry(
        name="dfsa",
        config_cls=DFSAConfig,
        build=build,
        scales=(2, 3, 4),
        official_params=DFSA_PARAMS,
        detect=detect,
        convert=same_layout,
        summary="DFSA (ICCV 2021, re-implemented from the paper): RCAN + MMCA + dynamic high-pass per group",
    ),
    NetworkEntry(
        name="dfsa_edsr",
        family="dfsa",
        config_cls=DFSAConfig,
        build=build,
        scales=(2, 3, 4),
        defaults=EDSR_BASELINE,
        official_params=DFSA_EDSR_PARAMS,
        detect=detect_edsr,  # without arch=, "dfsa" (first in order) claims both backbones
        convert=same_layout,
        summary="DFSA units on EDSR-baseline (16 blocks, 64 feats): MMCA + dynamic high-pass in every block",
    ),
)

