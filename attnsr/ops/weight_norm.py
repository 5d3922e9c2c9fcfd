"""A weight-normalised 2-D convolution whose state-dict keys match the legacy
``torch.nn.utils.weight_norm(conv)`` (``bias``, ``weight_g``, ``weight_v``, in that order).

Why by hand: the legacy hook API is deprecated (FutureWarning) and cannot be deep-copied once applied,
while ``torch.nn.utils.parametrizations.weight_norm`` renames the keys to
``parametrizations.weight.original0/1``. Official checkpoints trained with the legacy hook (FSANet,
among others) load into :class:`WNConv2d` unchanged. :func:`attnsr.ops.fold.fold_for_inference` turns
it into a plain ``nn.Conv2d`` for inference.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from attnsr.errors import ConfigError


class WNConv2d(nn.Module):
    """Conv2d with weight ``v * g / ||v||`` (norm per output channel over the other dims, i.e. dim=0).

    Parameters: ``bias`` [out], ``weight_g`` [out,1,1,1], ``weight_v`` [out, in/groups, k, k].
    Initialised like ``weight_norm(nn.Conv2d(...))``: v is Conv2d's default init and g = ||v||, so the
    effective weight starts equal to the plain conv's.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        padding: int = 0,
        dilation: int = 1,
        groups: int = 1,
    ) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ConfigError(f"WNConv2d: channels {in_channels}->{out_channels} not divisible by groups={groups}")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.padding = padding
        self.dilation = dilation
        self.groups = groups
        v = torch.empty(out_channels, in_channels // groups, kernel_size, kernel_size)
        nn.init.kaiming_uniform_(v, a=math.sqrt(5))  # nn.Conv2d's default weight init
        bound = 1.0 / math.sqrt(v[0].numel())
        # Registration order = state-dict order of the legacy hook: bias first, then g, then v.
        self.bias = nn.Parameter(torch.empty(out_channels).uniform_(-bound, bound))
        self.weight_g = nn.Parameter(torch.norm_except_dim(v, 2, 0))
        self.weight_v = nn.Parameter(v)

    def weight(self) -> torch.Tensor:
        """The effective conv weight [out, in/groups, k, k] (same kernel the legacy hook uses)."""
        return torch._weight_norm(self.weight_v, self.weight_g, 0)

    def to_conv2d(self) -> nn.Conv2d:
        """A plain ``nn.Conv2d`` holding the current effective weight (same device and dtype)."""
        v = self.weight_v
        conv = nn.Conv2d(
            self.in_channels, self.out_channels, self.kernel_size, padding=self.padding,
            dilation=self.dilation, groups=self.groups, bias=True, device=v.device, dtype=v.dtype,
        )
        with torch.no_grad():
            conv.weight.copy_(self.weight())
            assert conv.bias is not None  # built with bias=True
            conv.bias.copy_(self.bias)
        return conv

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight(), self.bias, 1, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"padding={self.padding}, dilation={self.dilation}, groups={self.groups}")
