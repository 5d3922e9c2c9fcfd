"""RRDBNet, the ESRGAN generator in the "old-arch" key layout (``model.0`` ... ``model.10``).

Paper: Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks", ECCVW 2018.
Official code: github.com/xinntao/ESRGAN (old BasicSR ``RRDBNet``); FASRGAN (github.com/Rainyfish/
FASRGAN-and-Fs-SRGAN, commit 2d85fc0) uses the same class unchanged as its generator and ships
``FASRGAN_G.pth`` in this layout (spec ``fasrgan.md`` §1.3, §2.1).

Structure (×4): ``model.0`` conv in_nc→nf; ``model.1`` = f0 + [nb RRDBs, conv] (keys
``model.1.sub.{i}.RDB{1,2,3}.conv{1..5}.0.*`` and ``model.1.sub.{nb}.*``); per ×2 stage nearest-neighbour
upsampling + conv + LeakyReLU(0.2) (``model.3``, ``model.6``); ``model.8`` conv + LReLU; ``model.10`` conv
nf→out_nc. No mean shift, no clamp, no global residual: RGB [0,1] in, raw conv output out (≈[0,1]).

Scales: 4 is official. 2 (one nearest ×2 stage, last conv ``model.7``), 3 (one nearest ×3 stage, the
reference's ``upscale == 3`` branch, same keys as ×2) and 8 (three stages) also build; a ×2 and a ×3
checkpoint cannot be told apart by their keys, so detection says 2 and ``scale=3`` overrides it.
Any input size works (only 3×3 convs and nearest upsampling).

Differences from the official code: ``gc`` is not a config field because the reference ignores it
(growth is hard-coded to 32, spec Q3); upsampling is always nearest+conv (``upsample_mode='upconv'``,
the only mode FASRGAN/ESRGAN checkpoints use).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from attnsr.errors import ConfigError
from attnsr.models.registry import NetworkEntry, StateDict
from attnsr.ops.rrdb import LRELU_SLOPE, ShortcutBlock, conv3x3, rrdb_stack

SUPPORTED_SCALES = (2, 3, 4, 8)


@dataclass(frozen=True)
class RRDBNetConfig:
    """Constructor arguments; defaults are ESRGAN/FASRGAN's official ×4 generator (16,697,987 params)."""

    scale: int = 4
    in_nc: int = 3  # 3 for RGB; Fs-SRGAN's generator tail takes the extractor's nf channels instead
    out_nc: int = 3
    nf: int = 64
    nb: int = 23


def upsample_stages(scale: int) -> list[int]:
    """Interpolation factor of each nearest+conv stage: ×3 is one ×3 stage, 2^k is k ×2 stages."""
    if scale == 3:
        return [3]
    if scale in SUPPORTED_SCALES:
        return [2] * (scale.bit_length() - 1)
    raise ConfigError(f"rrdbnet: scale {scale} not supported; choose one of {SUPPORTED_SCALES}")


class RRDBNet(nn.Module):
    """Old-arch RRDBNet. Input (N,in_nc,H,W), output (N,out_nc,H·scale,W·scale); any H, W."""

    def __init__(self, in_nc: int, out_nc: int, nf: int, nb: int, scale: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [conv3x3(in_nc, nf), ShortcutBlock(rrdb_stack(nf, nb, closing_conv=True))]
        for factor in upsample_stages(scale):
            layers += [nn.Upsample(scale_factor=factor, mode="nearest"), conv3x3(nf, nf),
                       nn.LeakyReLU(LRELU_SLOPE)]
        layers += [conv3x3(nf, nf), nn.LeakyReLU(LRELU_SLOPE), conv3x3(nf, out_nc)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def build(cfg: RRDBNetConfig) -> RRDBNet:
    return RRDBNet(cfg.in_nc, cfg.out_nc, cfg.nf, cfg.nb, cfg.scale)


def indexed_blocks(sd: StateDict, prefix: str) -> int:
    """How many consecutive ``{prefix}{i}.RDB1.conv1.0.weight`` keys exist, i = 0, 1, ..."""
    n = 0
    while f"{prefix}{n}.RDB1.conv1.0.weight" in sd:
        n += 1
    return n


def detect(sd: StateDict) -> dict[str, Any] | None:
    """Old-arch RRDBNet keys -> config (in_nc, out_nc, nf, nb, scale); None for anything else.

    Requires the trunk-closing conv ``model.1.sub.{nb}`` and the HR convs, so Fs-SRGAN's extractor (which
    also has ``model.1.sub.{i}.RDB*`` keys but neither) is not claimed. Scale comes from the index of the last
    conv: 3·stages + 4 (×4 -> ``model.10``, ×2 or ×3 -> ``model.7``; ×2 assumed).
    """
    if not sd or not all(k.startswith("model.") for k in sd) or "model.0.weight" not in sd:
        return None
    nb = indexed_blocks(sd, "model.1.sub.")
    if nb == 0 or f"model.1.sub.{nb}.weight" not in sd:
        return None
    conv_ids = sorted(int(k.split(".")[1]) for k in sd if k.count(".") == 2 and k.endswith(".weight"))
    last = conv_ids[-1]
    stages = (last - 4) // 3
    if last < 7 or (last - 4) % 3 or 2**stages not in SUPPORTED_SCALES:
        return None
    first, final = sd["model.0.weight"], sd[f"model.{last}.weight"]
    return {"in_nc": int(first.shape[1]), "out_nc": int(final.shape[0]), "nf": int(first.shape[0]),
            "nb": nb, "scale": 2**stages}


def convert(sd: StateDict, cfg: RRDBNetConfig) -> dict[str, torch.Tensor]:
    """Official keys are ours already: a new dict (the input is never mutated); checks happen at load."""
    del cfg
    return dict(sd)


# official_params: trainable parameters, sum(p.numel() for p in model.parameters()) (spec §8, also
# param_counts.json). Only ×4 is published; ×2/×3 are derived (one 64→64 upsampling conv fewer:
# 16,697,987 − 36,928) and ×8 has one more.
ENTRIES: tuple[NetworkEntry, ...] = (
    NetworkEntry(
        name="rrdbnet",
        config_cls=RRDBNetConfig,
        build=build,
        scales=(2, 3, 4),
        official_params={2: 16_661_059, 3: 16_661_059, 4: 16_697_987},
        detect=detect,
        convert=convert,
        role="generator",
        summary="ESRGAN/FASRGAN RRDBNet (old-arch keys model.*), 23 RRDBs, nearest+conv upsampling",
    ),
)
