"""LPIPS (Zhang et al., "The Unreasonable Effectiveness of Deep Features as a Perceptual Metric", CVPR 2018).

Official code: richzhang/PerceptualSimilarity (PyPI ``lpips``). Our own AlexNet / VGG16 feature stacks
(no torchvision), loaded from the converted ImageNet weights that ``attnsr assets install lpips`` puts in
the user cache (see :mod:`attnsr.assets`).

distance(x, y) = sum over tapped layers l of mean_{h,w} w_l . (f_l(x)/|f_l(x)| - f_l(y)/|f_l(y)|)^2, with
f_l the post-ReLU activations (AlexNet relu1..relu5; VGG16 relu1_2, relu2_2, relu3_3, relu4_3, relu5_3),
the norm taken over channels (eps 1e-10) and w_l >= 0 the learned linear head.

Inputs are our convention, float (N, 3, H, W) RGB in [0, 1]; they are mapped to [-1, 1] like the official
``normalize=True`` path. Versions:
* '0.1' (default, what everyone reports today): the [-1, 1] input then goes through the official scaling
  layer ((x - shift) / scale, an ImageNet normalisation expressed on [-1, 1]);
* '0.0' (original release, FASRGAN's tables, ``FASRGAN_LPIPS``): v0.0 heads and *no* scaling layer --
  the official package reproduces this release quirk for version '0.0', and so do we.
The forward pass is differentiable (usable as a loss); the weights are frozen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from attnsr.assets import load_lpips
from attnsr.errors import ConfigError, ImageError
from attnsr.ops.backbones import BACKBONES

# official ScalingLayer constants, applied to inputs in [-1, 1]
_SHIFT = (-0.030, -0.088, -0.188)
_SCALE = (0.458, 0.448, 0.450)

@dataclass(frozen=True)
class LPIPSConfig:
    """net: backbone ('alex' or 'vgg'); version: linear heads ('0.1' official default, '0.0' original
    release); scaling: apply the input scaling layer (None = as the official package does: only for '0.1')."""

    net: Literal["alex", "vgg"] = "alex"
    version: Literal["0.1", "0.0"] = "0.1"
    scaling: bool | None = None

    def __post_init__(self) -> None:
        if self.net not in BACKBONES:
            raise ConfigError(f"LPIPSConfig.net: expected one of {sorted(BACKBONES)}, got {self.net!r}")
        if self.version not in ("0.1", "0.0"):
            raise ConfigError(f"LPIPSConfig.version: expected '0.1' or '0.0', got {self.version!r}")

    @property
    def uses_scaling(self) -> bool:
        return self.version == "0.1" if self.scaling is None else self.scaling


#: FASRGAN's Test_scripts / PerceptualSimilarity convention (specs/fasrgan.md section 6)
FASRGAN_LPIPS = LPIPSConfig(net="alex", version="0.0")


def _unit_channels(feat: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """Divide each spatial position's channel vector by its L2 norm (official ``normalize_tensor``)."""
    return feat / (feat.pow(2).sum(dim=1, keepdim=True).sqrt() + eps)


class LPIPS(nn.Module):
    """LPIPS distance module: ``forward(x, y)`` with x, y (N, 3, H, W) in [0, 1] -> (N,) distances.

    State dict: ``features.{i}.weight/bias`` (every conv in order) and ``lins.{k}.weight`` (1, C_k, 1, 1).
    Build it with :func:`load_lpips_model` to get pretrained, frozen weights.
    """

    def __init__(self, config: LPIPSConfig = LPIPSConfig()) -> None:
        super().__init__()
        self.config = config
        plan = BACKBONES[config.net]
        self.pools = [pool for pool, _ in plan.stages]
        self.stage_sizes = [len(convs) for _, convs in plan.stages]
        self.features = nn.ModuleList(
            nn.Conv2d(cin, cout, k, stride=s, padding=p) for _, convs in plan.stages for cin, cout, k, s, p in convs
        )
        self.lins = nn.ModuleList(nn.Conv2d(c, 1, 1, bias=False) for c in plan.tap_channels)

    def taps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The five tapped activations of the backbone for an input already in the backbone's range."""
        out, i = [], 0
        for pool, n in zip(self.pools, self.stage_sizes):
            if pool is not None:
                x = F.max_pool2d(x, pool[0], pool[1])
            for conv in self.features[i : i + n]:
                x = F.relu(conv(x))
            i += n
            out.append(x)
        return out

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x * 2 - 1
        if not self.config.uses_scaling:
            return x  # v0.0 release quirk: [-1, 1] straight into the backbone
        return (x - x.new_tensor(_SHIFT).view(1, 3, 1, 1)) / x.new_tensor(_SCALE).view(1, 3, 1, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if x.shape != y.shape or x.dim() != 4 or x.shape[1] != 3:
            raise ImageError(f"LPIPS: expected two (N, 3, H, W) tensors of one shape, got {tuple(x.shape)} "
                             f"and {tuple(y.shape)}")
        size = BACKBONES[self.config.net].min_size
        if min(x.shape[-2:]) < size:
            raise ImageError(f"LPIPS-{self.config.net}: images must be at least {size}x{size}, got {tuple(x.shape)}")
        total = x.new_zeros(x.shape[0])
        for fx, fy, lin in zip(self.taps(self._prepare(x)), self.taps(self._prepare(y)), self.lins):
            diff = (_unit_channels(fx) - _unit_channels(fy)).pow(2)
            total = total + lin(diff).mean(dim=(1, 2, 3))
        return total


def head_key(version: str) -> str:
    """Prefix of the heads of ``version`` in the converted asset file."""
    return f"heads.v{version.replace('.', '_')}."


def load_lpips_model(config: LPIPSConfig = LPIPSConfig(), *, cache: Path | None = None,
                     device: torch.device | str = "cpu") -> LPIPS:
    """Pretrained, frozen LPIPS in eval mode. Raises :class:`attnsr.assets.MissingAssetError` naming
    ``attnsr assets install lpips`` when the weights are not in the cache."""
    tensors = load_lpips(config.net, cache)
    prefix = head_key(config.version)
    state = {k: v for k, v in tensors.items() if k.startswith("features.")}
    state.update({f"lins.{k[len(prefix):]}.weight": v for k, v in tensors.items() if k.startswith(prefix)})
    with torch.device("meta"):  # skip the random init: every parameter is overwritten below
        model = LPIPS(config)
    model.load_state_dict(state, strict=True, assign=True)
    model.requires_grad_(False)
    return model.eval().to(device)
