"""SRVGGNetCompact, Real-ESRGAN's plain compact generator (realesr-general-x4v3, realesr-animevideov3).

Paper: Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data",
ICCVW 2021; the compact network is from the official repo (github.com/xinntao/Real-ESRGAN,
``realesrgan/archs/srvgg_arch.py``), not from the paper.

Structure: ``body.0`` conv in→nf, ``body.1`` activation, then ``num_conv`` × (conv nf→nf, activation),
then a conv nf→out·s² (the last ``body`` index is 2·num_conv + 2), a pixel shuffle by s, and the input
upsampled by nearest neighbour added on top (the network learns a residual over nearest). Activations
are PReLU with one slope per channel (official default), ReLU or LeakyReLU(0.1); only PReLU has weights,
so the state dict shows it (``body.1.weight``) and a ReLU/LeakyReLU checkpoint must be told which.

No normalisation, pooling or attention: every output pixel depends only on a (2·num_conv + 3)-pixel LR
window, so tiling with that much overlap is exact. Any input size works.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from attnsr.errors import ConfigError
from attnsr.models.keys import same_layout
from attnsr.models.registry import NetworkEntry, StateDict

ACTIVATIONS = ("prelu", "relu", "leakyrelu")


@dataclass(frozen=True)
class SRVGGConfig:
    """Constructor arguments; defaults are realesr-general-x4v3 (×4, 64 features, 32 convs, PReLU)."""

    scale: int = 4
    in_nc: int = 3
    out_nc: int = 3
    nf: int = 64
    num_conv: int = 32
    act: str = "prelu"  # official act_type: prelu | relu | leakyrelu (slope 0.1)

    def __post_init__(self) -> None:
        if self.act not in ACTIVATIONS:
            raise ConfigError(f"srvgg: act must be one of {ACTIVATIONS}, got {self.act!r}")
        if self.scale < 1 or self.nf < 1 or self.num_conv < 0:
            raise ConfigError(f"srvgg: need scale >= 1, nf >= 1, num_conv >= 0; got {self}")


def _activation(kind: str, nf: int) -> nn.Module:
    if kind == "prelu":
        return nn.PReLU(num_parameters=nf)
    if kind == "relu":
        return nn.ReLU(inplace=True)
    return nn.LeakyReLU(negative_slope=0.1, inplace=True)


class SRVGGNetCompact(nn.Module):
    """Input (N, in_nc, H, W) RGB in [0, 1]; output (N, out_nc, sH, sW). Official attribute names."""

    def __init__(self, in_nc: int, out_nc: int, nf: int, num_conv: int, scale: int, act: str) -> None:
        super().__init__()
        self.scale = scale
        layers: list[nn.Module] = [nn.Conv2d(in_nc, nf, 3, 1, 1), _activation(act, nf)]
        for _ in range(num_conv):
            layers += [nn.Conv2d(nf, nf, 3, 1, 1), _activation(act, nf)]
        layers.append(nn.Conv2d(nf, out_nc * scale * scale, 3, 1, 1))
        self.body = nn.ModuleList(layers)
        self.upsampler = nn.PixelShuffle(scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x
        for layer in self.body:
            out = layer(out)
        out = self.upsampler(out)
        if out.shape[1] == x.shape[1]:
            out = out + F.interpolate(x, scale_factor=self.scale, mode="nearest")
        return out


def build(cfg: SRVGGConfig) -> SRVGGNetCompact:
    return SRVGGNetCompact(cfg.in_nc, cfg.out_nc, cfg.nf, cfg.num_conv, cfg.scale, cfg.act)


def detect(sd: StateDict) -> dict[str, Any] | None:
    """``body.N`` keys of SRVGGNetCompact -> config; None for anything else.

    Conv weights are the 4-D ``body.{i}.weight`` tensors; with PReLU they sit at even indices and PReLU
    slopes at odd ones. The scale is sqrt(last conv's out channels / out_nc), with out_nc = in_nc (RGB
    in, RGB out, as every released model). Without PReLU the activation leaves no weights: detection
    says ``relu``, and a LeakyReLU checkpoint needs ``act="leakyrelu"`` from the caller.
    """
    if not sd or not all(k.startswith("body.") for k in sd):
        return None
    convs: dict[int, torch.Tensor] = {}
    slopes: dict[int, torch.Tensor] = {}
    for key, value in sd.items():
        parts = key.split(".")
        if len(parts) != 3 or not parts[1].isdigit() or parts[2] not in ("weight", "bias"):
            return None
        idx = int(parts[1])
        if parts[2] == "weight":
            if value.dim() == 4:
                convs[idx] = value
            elif value.dim() == 1:
                slopes[idx] = value
            else:
                return None
    if not convs or sorted(convs) != list(range(0, 2 * len(convs), 2)):
        return None
    if slopes and sorted(slopes) != list(range(1, 2 * len(convs) - 1, 2)):
        return None
    first, last = convs[0], convs[max(convs)]
    in_nc, nf = int(first.shape[1]), int(first.shape[0])
    ratio = int(last.shape[0]) // in_nc
    scale = int(round(ratio**0.5))
    if scale < 1 or scale * scale * in_nc != int(last.shape[0]):
        return None
    cfg: dict[str, Any] = {"in_nc": in_nc, "out_nc": in_nc, "nf": nf, "num_conv": len(convs) - 2,
                           "scale": scale}
    if not slopes:
        cfg["act"] = "relu"  # no weights: ReLU and LeakyReLU look the same; relu unless told otherwise
    return cfg


ENTRIES: tuple[NetworkEntry, ...] = (
    NetworkEntry(
        name="srvgg",
        config_cls=SRVGGConfig,
        build=build,
        scales=(2, 3, 4),
        # realesr-general-x4v3: 64 features, 32 convs, PReLU, x4 (1,213,296 trainable parameters).
        official_params={4: 1_213_296},
        detect=detect,
        convert=same_layout,
        role="generator",
        summary="Real-ESRGAN SRVGGNetCompact: plain convs + PReLU, pixel shuffle, + nearest-upsampled input",
    ),
)
