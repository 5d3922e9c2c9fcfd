"""The bicubic baseline as a model: what every SR table compares against, and ``--model bicubic``."""

from __future__ import annotations

import torch
from torch import nn

from attnsr.image.resize import imresize


class Bicubic(nn.Module):
    """The bicubic baseline (MATLAB imresize) as a parameter-free model: RGB [0,1] in and out."""

    #: imresize mirrors the borders itself (MATLAB's symmetric padding): the engine adds none
    exact_borders = True

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return imresize(x, float(self.scale))
