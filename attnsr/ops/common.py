"""Blocks of the EDSR/RCAN code family, shared by HSPAN, RCAN and DFSA (attribute names as in that code,
so their official checkpoints load): padded conv, MeanShift, pixel-shuffle Upsampler, channel attention."""

from __future__ import annotations

import math

import torch
from torch import nn

from attnsr.errors import ConfigError

#: DIV2K RGB mean used by the EDSR family (fraction of the RGB range).
DIV2K_MEAN: tuple[float, float, float] = (0.4488, 0.4371, 0.4040)


def default_conv(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> nn.Conv2d:
    """'same'-padded convolution (odd kernel sizes), as ``common.default_conv`` in the EDSR code."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)


class MeanShift(nn.Conv2d):
    """Frozen 1×1 conv adding (sign=+1) or subtracting (sign=-1) the dataset mean.

    Keys ``weight`` [3,3,1,1] and ``bias`` [3] live in the state dict; the loaded values are used, so a
    checkpoint with other constants behaves as the official model did.
    """

    def __init__(
        self,
        rgb_range: float = 1.0,
        rgb_mean: tuple[float, float, float] = DIV2K_MEAN,
        rgb_std: tuple[float, float, float] = (1.0, 1.0, 1.0),
        sign: int = -1,
    ) -> None:
        super().__init__(3, 3, kernel_size=1)
        std = torch.tensor(rgb_std)
        assert self.bias is not None  # a Conv2d has a bias by default
        self.weight.data = torch.eye(3).view(3, 3, 1, 1) / std.view(3, 1, 1, 1)
        self.bias.data = sign * rgb_range * torch.tensor(rgb_mean) / std
        for p in self.parameters():
            p.requires_grad = False


class Upsampler(nn.Sequential):
    """conv(C→4C)+PixelShuffle(2) per factor 2 (scale 2^n), or conv(C→9C)+PixelShuffle(3) (scale 3).

    Indices match the EDSR code (no BN, no activation): ×2 -> keys ``0.*``; ×4 -> ``0.*``, ``2.*``; ×3 -> ``0.*``.
    """

    def __init__(self, scale: int, n_feats: int, bias: bool = True) -> None:
        layers: list[nn.Module] = []
        if scale & (scale - 1) == 0 and scale > 1:
            for _ in range(int(math.log2(scale))):
                layers += [default_conv(n_feats, 4 * n_feats, 3, bias), nn.PixelShuffle(2)]
        elif scale == 3:
            layers += [default_conv(n_feats, 9 * n_feats, 3, bias), nn.PixelShuffle(3)]
        else:
            raise ConfigError(f"Upsampler supports scale 2^n or 3, got {scale}")
        super().__init__(*layers)


class CALayer(nn.Module):
    """RCAN channel attention: global average pool -> 1×1 conv C→C/r -> ReLU -> 1×1 conv -> sigmoid -> scale.

    Keys ``conv_du.0.*`` and ``conv_du.2.*`` as in RCAN.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1, padding=0, bias=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1, padding=0, bias=True),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv_du(self.avg_pool(x))
