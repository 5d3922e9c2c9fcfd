"""Residual-in-residual dense blocks of the old BasicSR/ESRGAN code (the "old-arch" key layout).

Shared by :mod:`attnsr.models.rrdbnet` (ESRGAN/FASRGAN generator) and :mod:`attnsr.models.fssrgan`
(Fs-SRGAN shared extractor and generator tail). Attribute names reproduce the official state-dict keys:
inside an RDB each conv sits at index 0 of a one/two-element Sequential (``conv1.0.weight``), the three
RDBs of an RRDB are ``RDB1..RDB3``, and the shortcut wrapper holds its body under ``sub``.
"""

from __future__ import annotations

import torch
from torch import nn

from attnsr.errors import ConfigError

#: Dense-block growth channels. The old-arch constructors take ``gc`` but hard-code 32 (spec Q3); BasicSR's
#: new layout and the 2019 ESRGAN code honour it (``num_grow_ch`` / ``gc``), so the blocks take it.
GROWTH = 32
#: Residual scaling inside RDBs and RRDBs, and the LeakyReLU slope used across these networks.
RES_SCALE = 0.2
LRELU_SLOPE = 0.2


def conv3x3(in_ch: int, out_ch: int) -> nn.Conv2d:
    """3×3 conv, stride 1, zero padding 1, bias on (the ``conv_block`` default of the old BasicSR code)."""
    return nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=True)


class ResidualDenseBlock(nn.Module):
    """Five densely connected 3×3 convs; ``x + 0.2·conv5([x, o1, o2, o3, o4])``. Shape-preserving (N,nf,H,W)."""

    def __init__(self, nf: int, gc: int = GROWTH) -> None:
        super().__init__()
        # Each conv is wrapped in a Sequential with its activation so the keys read "convK.0.weight".
        for k in range(1, 5):
            setattr(self, f"conv{k}", nn.Sequential(conv3x3(nf + (k - 1) * gc, gc),
                                                    nn.LeakyReLU(LRELU_SLOPE)))
        self.conv5 = nn.Sequential(conv3x3(nf + 4 * gc, nf))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats = [x]
        for k in range(1, 5):
            feats.append(getattr(self, f"conv{k}")(torch.cat(feats, dim=1)))
        return x + RES_SCALE * self.conv5(torch.cat(feats, dim=1))


class RRDB(nn.Module):
    """Three RDBs in series with an outer residual: ``x + 0.2·RDB3(RDB2(RDB1(x)))``. Shape-preserving."""

    def __init__(self, nf: int, gc: int = GROWTH) -> None:
        super().__init__()
        self.RDB1 = ResidualDenseBlock(nf, gc)
        self.RDB2 = ResidualDenseBlock(nf, gc)
        self.RDB3 = ResidualDenseBlock(nf, gc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + RES_SCALE * self.RDB3(self.RDB2(self.RDB1(x)))


class ShortcutBlock(nn.Module):
    """``x + sub(x)`` with the body stored as ``sub`` (the official ``ShortcutBlock``; keys ``sub.*``)."""

    def __init__(self, sub: nn.Module) -> None:
        super().__init__()
        self.sub = sub

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.sub(x)


def rrdb_stack(nf: int, nb: int, *, closing_conv: bool, gc: int = GROWTH) -> nn.Module:
    """``nb`` RRDBs of growth ``gc`` (optionally followed by a 3×3 nf→nf conv, the RRDBNet trunk conv) as
    one module.

    Reproduces the old ``B.sequential`` flattening (spec Q4): a single module is returned unwrapped, so a
    lone RRDB yields keys ``RDB1.*`` instead of ``0.RDB1.*``.
    """
    if nb < 1:
        raise ConfigError(f"an RRDB stack needs at least one block, got nb={nb}")
    modules: list[nn.Module] = [RRDB(nf, gc) for _ in range(nb)]
    if closing_conv:
        modules.append(conv3x3(nf, nf))
    return modules[0] if len(modules) == 1 else nn.Sequential(*modules)
