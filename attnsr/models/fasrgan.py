"""FASRGAN: the RRDBNet generator under FASRGAN's name, and its fine-grained-attention U-Net discriminator.

Paper: Yan et al., "Fine-grained Attention and Feature-sharing Generative Adversarial Networks for Single
Image Super-Resolution", IEEE TMM 2021 (arXiv 1911.10773). Official code: github.com/Rainyfish/
FASRGAN-and-Fs-SRGAN @ 2d85fc0, ``codes/models/modules/architecture.py`` (``RRDBNet``, ``UNet``).
Spec: ``shared/specs/fasrgan.md`` §2.

Entries:
* ``fasrgan`` (generator): exactly :class:`attnsr.models.rrdbnet.RRDBNet` (nf 64, nb 23, ×4; ESRGAN's
  old-arch keys). A FASRGAN checkpoint cannot be told apart from an ESRGAN one, so automatic detection
  (registry order) answers ``rrdbnet``; ``from_official(path, arch="fasrgan")`` gives the same network
  under this name.
* ``fasrgan_unet`` (discriminator): :class:`UNetDiscriminator`. Input (N,in_ch,P,P) with P = patch_size
  (128 official), RGB [0,1] for FASRGAN (no normalisation). Returns ``(score, score_map)``: score (N,1)
  from a classifier on the bottleneck, score_map (N,out_ch,P,P) per pixel and per colour channel; both
  raw logits (the trainer applies BCE-with-logits). FA+Fs-SRGAN reuses this class with in_ch 64 on the
  shared extractor's features (see :mod:`attnsr.models.fssrgan`).

Training pair: ``create("fasrgan")`` and ``create("fasrgan_unet")`` (independent networks; feed D 128×128
HR/SR crops; the fine-grained attention loss uses ``score_map``).

The U-Net is generalised as the conformance vectors are (nf 64 / fc_hidden 1024 / in_ch 3 is the reference
exactly): encoder widths nf, 2nf, 4nf, 4nf; decoder 2nf, nf, nf; classifier Linear(4nf·(P/8)² → fc_hidden)
→ LeakyReLU(0.2) → Linear(fc_hidden → 1). The score head fixes the input size to P×P; other sizes raise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from attnsr.errors import ConfigError, ImageError
from attnsr.models import rrdbnet
from attnsr.models.keys import with_bn_counters
from attnsr.models.registry import NetworkEntry, StateDict

UNET_PREFIXES = ("inc.", "down1.", "down2.", "down3.", "up2.", "up3.", "up4.", "outc.", "classifier.")


@dataclass(frozen=True)
class UNetDiscriminatorConfig:
    """U-Net discriminator arguments; defaults are the official ``UNet()`` (70,473,220 params)."""

    scale: int = 1  # ignored (discriminator); present for the registry
    in_ch: int = 3  # 3 for FASRGAN (RGB); the shared extractor's width (64) in FA+Fs-SRGAN
    out_ch: int = 3  # channels of the per-pixel score map (one per RGB channel)
    nf: int = 64
    patch_size: int = 128  # the only input size the score head accepts
    fc_hidden: int = 1024


class DoubleConv(nn.Module):
    """(conv3×3 → BN → ReLU) ×2; keys ``conv.{0,1,3,4}.*``. (N,in_ch,H,W) -> (N,out_ch,H,W)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(in_ch, out_ch, 3, padding=1),
            # Official bug kept (spec Q1): BatchNorm2d(out_ch, out_ch) passes the width as eps.
            nn.BatchNorm2d(out_ch, eps=float(out_ch)),
            nn.ReLU(),
            nn.Conv2d(out_ch, out_ch, 3, padding=1),
            nn.BatchNorm2d(out_ch),
            nn.ReLU(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class InConv(nn.Module):
    """First double conv, kept one level deep so keys read ``inc.conv.conv.*``."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = DoubleConv(in_ch, out_ch)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Down(nn.Module):
    """2×2 max-pool then a double conv (keys ``mpconv.1.conv.*``); halves H and W (floor)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.mpconv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(in_ch, out_ch))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mpconv(x)


class Up(nn.Module):
    """Bilinear ×2 (align_corners=True), zero-pad to the skip's size, concat [skip, up], double conv."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = DoubleConv(in_ch, out_ch)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=True)
        dy, dx = skip.shape[2] - x.shape[2], skip.shape[3] - x.shape[3]
        x = F.pad(x, (dx // 2, dx - dx // 2, dy // 2, dy - dy // 2))
        return self.conv(torch.cat([skip, x], dim=1))


class OutConv(nn.Module):
    """1×1 conv to the score-map channels (keys ``outc.conv.*``)."""

    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class UNetDiscriminator(nn.Module):
    """FASRGAN's discriminator: (N,in_ch,P,P) -> (score (N,1), score_map (N,out_ch,P,P)), raw logits."""

    def __init__(self, in_ch: int = 3, out_ch: int = 3, nf: int = 64, patch_size: int = 128,
                 fc_hidden: int = 1024) -> None:
        super().__init__()
        if patch_size % 8:
            raise ConfigError(f"fasrgan_unet: patch_size must be a multiple of 8, got {patch_size}")
        self.patch_size = patch_size
        self.inc = InConv(in_ch, nf)
        self.down1 = Down(nf, 2 * nf)
        self.down2 = Down(2 * nf, 4 * nf)
        self.down3 = Down(4 * nf, 4 * nf)
        self.up2 = Up(8 * nf, 2 * nf)
        self.up3 = Up(4 * nf, nf)
        self.up4 = Up(2 * nf, nf)
        self.outc = OutConv(nf, out_ch)
        self.classifier = nn.Sequential(
            nn.Linear(4 * nf * (patch_size // 8) ** 2, fc_hidden), nn.LeakyReLU(0.2), nn.Linear(fc_hidden, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if tuple(x.shape[2:]) != (self.patch_size, self.patch_size):
            raise ImageError(f"fasrgan_unet: input must be {self.patch_size}×{self.patch_size} (the score "
                             f"head is a Linear layer), got shape {tuple(x.shape)}")
        x1 = self.inc(x)
        x2 = self.down1(x1)
        x3 = self.down2(x2)
        x4 = self.down3(x3)
        score = self.classifier(x4.flatten(1))  # (C,H,W) order, as x4.view(N, -1)
        y = self.up4(self.up3(self.up2(x4, x3), x2), x1)
        return score, self.outc(y)


def build_unet(cfg: UNetDiscriminatorConfig) -> UNetDiscriminator:
    return UNetDiscriminator(cfg.in_ch, cfg.out_ch, cfg.nf, cfg.patch_size, cfg.fc_hidden)


def detect_unet(sd: StateDict) -> dict[str, Any] | None:
    """U-Net discriminator keys -> config (in_ch, out_ch, nf, fc_hidden, patch_size); None otherwise.

    patch_size P follows from the first Linear: in_features = 4·nf·(P/8)².
    """
    if not sd or "inc.conv.conv.0.weight" not in sd or "classifier.0.weight" not in sd:
        return None
    if not all(k.startswith(UNET_PREFIXES) for k in sd):
        return None
    first, fc0 = sd["inc.conv.conv.0.weight"], sd["classifier.0.weight"]
    nf = int(first.shape[0])
    side = round((int(fc0.shape[1]) / (4 * nf)) ** 0.5)
    found = {"in_ch": int(first.shape[1]), "nf": nf, "fc_hidden": int(fc0.shape[0]), "patch_size": 8 * side}
    if "outc.conv.weight" in sd:  # when absent the load reports it as missing
        found["out_ch"] = int(sd["outc.conv.weight"].shape[0])
    return found


# official_params: trainable parameters, sum(p.numel() for p in model.parameters()), BN running stats
# excluded (spec §8 / param_counts.json).
ENTRIES: tuple[NetworkEntry, ...] = (
    NetworkEntry(
        name="fasrgan",
        config_cls=rrdbnet.RRDBNetConfig,
        build=rrdbnet.build,
        scales=(4,),
        official_params={4: 16_697_987},
        # Same keys as ESRGAN: auto-detection stops at ``rrdbnet`` first; this is reached with arch="fasrgan".
        detect=rrdbnet.detect,
        convert=rrdbnet.convert,
        role="generator",
        summary="FASRGAN generator (= ESRGAN RRDBNet, 23 RRDBs, ×4)",
    ),
    NetworkEntry(
        name="fasrgan_unet",
        config_cls=UNetDiscriminatorConfig,
        build=build_unet,
        scales=(1,),
        official_params={1: 70_473_220},
        detect=detect_unet,
        convert=with_bn_counters,
        role="discriminator",
        summary="FASRGAN U-Net discriminator: 128×128 RGB -> (score, per-pixel 3-channel score map)",
    ),
)
