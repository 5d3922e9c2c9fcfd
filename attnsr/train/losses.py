"""Training losses: pixel losses, the VGG19 perceptual loss, and the relativistic-average GAN terms.

Images are float NCHW RGB in [0, 1]. The VGG19 stack is our own, in torchvision's key layout
(``features.<i>.weight``/``.bias``), so a torchvision ``vgg19`` state dict loads into it unchanged; its
weights are never downloaded: the user supplies the file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from attnsr.errors import ConfigError

PixelLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

#: torchvision VGG19 ``features``: channel widths with "M" for max-pooling.
_VGG19_LAYOUT = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                 512, 512, 512, 512, "M")
#: index in ``features`` of conv5_4 (its output is taken before the ReLU at index 35).
CONV5_4 = 34


def l1_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over every element."""
    return F.l1_loss(sr, hr)


def mse_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Mean squared error over every element."""
    return F.mse_loss(sr, hr)


def charbonnier_loss(sr: torch.Tensor, hr: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """mean(sqrt((sr - hr)^2 + eps^2)): an L1 that is smooth at zero (LapSRN's form)."""
    return torch.sqrt((sr - hr).square() + eps * eps).mean()


def pixel_loss(kind: str, *, eps: float = 1e-3) -> PixelLoss:
    """The pixel loss called ``kind`` (l1, mse, charbonnier)."""
    if kind == "l1":
        return l1_loss
    if kind == "mse":
        return mse_loss
    if kind == "charbonnier":
        return lambda sr, hr: charbonnier_loss(sr, hr, eps)
    raise ConfigError(f"loss.pixel: unknown pixel loss {kind!r}; use l1, mse or charbonnier")


class VGG19Features(nn.Module):
    """torchvision VGG19 ``features[:last + 1]`` with ImageNet normalisation of a [0, 1] input.

    Default ``last`` = 34 = conv5_4 before its ReLU (ESRGAN/FASRGAN's feature layer). Frozen: every
    parameter has ``requires_grad=False`` and the module stays in eval mode (no BN/dropout anyway).
    Input N×3×H×W in [0, 1] (H, W ≥ 16 for conv5); output N×512×H/16×W/16.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(self, last: int = CONV5_4) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        in_ch = 3
        for item in _VGG19_LAYOUT:
            if item == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(in_ch, int(item), 3, padding=1), nn.ReLU(inplace=True)]
                in_ch = int(item)
        self.features = nn.Sequential(*layers[: last + 1])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VGG19Features":
        return super().train(False)  # always eval: the loss network never changes

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features((x - self.mean) / self.std)


def load_vgg19(path: str | os.PathLike[str] | None, *, last: int = CONV5_4) -> VGG19Features:
    """VGG19 features with weights from ``path`` (torchvision layout); classifier keys are ignored."""
    if not path:
        raise ConfigError(
            "loss.vgg_weights: the perceptual loss needs ImageNet VGG19 weights, which attnsr never "
            "downloads; save torchvision's vgg19 state dict (vgg19-dcbb9e9d.pth, keys features.<i>.weight) "
            "on a machine with internet and set loss.vgg_weights to its path")
    from attnsr.models.checkpoint import read_checkpoint, unwrap_state_dict

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"loss.vgg_weights: {p}: no such file (a torchvision vgg19 state dict is expected)")
    raw, _ = read_checkpoint(p)
    sd = unwrap_state_dict(raw)
    net = VGG19Features(last)
    wanted = net.state_dict()
    missing = [k for k in wanted if k not in sd]
    if missing:
        raise ConfigError(f"loss.vgg_weights: {p}: not a torchvision VGG19 state dict; missing {missing[:4]}")
    shaped = [k for k in wanted if tuple(sd[k].shape) != tuple(wanted[k].shape)]
    if shaped:
        raise ConfigError(f"loss.vgg_weights: {p}: wrong shapes for {shaped[:4]} (VGG19 without BN expected)")
    net.load_state_dict({k: sd[k] for k in wanted})
    return net


class PerceptualLoss(nn.Module):
    """mean |φ(sr) − φ(hr)| with φ = VGG19 conv5_4 features (HR features detached)."""

    def __init__(self, vgg: VGG19Features) -> None:
        super().__init__()
        self.vgg = vgg

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.vgg(hr)
        return F.l1_loss(self.vgg(sr), target)


class LPIPSLoss(nn.Module):
    """Mean LPIPS distance between ``sr`` and ``hr`` (HR detached) with a frozen pretrained LPIPS."""

    def __init__(self, net: str) -> None:
        super().__init__()
        from attnsr.metrics.lpips import LPIPSConfig, load_lpips_model

        self.lpips = load_lpips_model(LPIPSConfig(net=net))  # type: ignore[arg-type]

    def train(self, mode: bool = True) -> "LPIPSLoss":
        return super().train(False)  # always eval: the loss network never changes

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        return self.lpips(sr, hr.detach()).mean()


def bce(logits: torch.Tensor, target: float) -> torch.Tensor:
    """Binary cross-entropy on logits against a constant all-``target`` tensor, mean over elements."""
    return F.binary_cross_entropy_with_logits(logits, torch.full_like(logits, target))


def relativistic_g(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Generator side of RaGAN: ½[BCE(real − mean(fake), 0) + BCE(fake − mean(real), 1)].

    ``real`` should be detached by the caller (the reference detaches D(HR) in the G step)."""
    return 0.5 * (bce(real - fake.mean(), 0.0) + bce(fake - real.mean(), 1.0))


def relativistic_d(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """Discriminator side of RaGAN: ½[BCE(real − mean(fake), 1) + BCE(fake − mean(real), 0)]."""
    return 0.5 * (bce(real - fake.mean(), 1.0) + bce(fake - real.mean(), 0.0))
