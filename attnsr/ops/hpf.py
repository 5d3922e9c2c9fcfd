"""Dynamic (content-adaptive) high-pass filtering, as reconstructed for DFSA (spec ``dfsa.md`` §2).

A k×k conv + BatchNorm predicts, at every pixel, one low-pass kernel per channel group (softmax over the
k² taps); the low-pass ``L`` of the input is the per-pixel weighted sum of its reflect-padded neighbourhood,
and the high-pass is ``x - L`` (the kernel "centre delta minus K"). The predictor follows Zou et al.'s
adaptive anti-aliasing layer (``MaureenZOU/Adaptive-anti-Aliasing`` ``pasa.py``): no conv bias, Kaiming
normal (fan_out) init, BN on the logits, reflect padding, contiguous channel groups.

Kernels are laid out B×G×k²×H×W; tap t is the row-major (ky, kx) position, the same order as ``unfold``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from attnsr.errors import ConfigError

SOFTMAX_SCOPES = ("group", "all")
HPF_MODES = ("residual", "highpass", "concat")


def pad_same(x: torch.Tensor, k: int) -> torch.Tensor:
    """Pad H and W by k//2 with reflection, so a constant map stays constant at the borders.

    Reflection needs more than k//2 pixels per side; smaller maps (e.g. 1 pixel for k = 3) fall back to
    replicate padding, which keeps that property.
    """
    p = k // 2
    mode = "reflect" if min(x.shape[-2:]) > p else "replicate"
    return F.pad(x, (p, p, p, p), mode=mode)


def lowpass_shift(x_pad: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Per-pixel, per-group filtering as a sum over the k² shifted views (no C·k²·H·W temporary).

    x_pad: B×C×(H+2p)×(W+2p); kernels: B×G×k²×H×W (G divides C, contiguous groups). Returns B×C×H×W.
    """
    b, c, hp, wp = x_pad.shape
    _, g, taps, h, w = kernels.shape
    k = math.isqrt(int(taps))  # int(): a traced (ONNX export) shape is a 0-dim tensor
    out = x_pad.new_zeros(b, g, c // g, h, w)
    for t in range(taps):
        dy, dx = divmod(t, k)
        view = x_pad[:, :, dy:dy + h, dx:dx + w].reshape(b, g, c // g, h, w)
        out = out + view * kernels[:, :, t].unsqueeze(2)
    return out.reshape(b, c, h, w)


def lowpass_unfold(x_pad: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Same result as :func:`lowpass_shift` through ``F.unfold`` (reference form; uses C·k²·H·W memory)."""
    b, c, _, _ = x_pad.shape
    _, g, taps, h, w = kernels.shape
    k = math.isqrt(int(taps))  # int(): a traced (ONNX export) shape is a 0-dim tensor
    patches = F.unfold(x_pad, k).view(b, g, c // g, taps, h, w)
    return torch.einsum("bgcthw,bgthw->bgchw", patches, kernels).reshape(b, c, h, w)


def apply_lowpass(x: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Filter ``x`` (B×C×H×W) with per-pixel group kernels (B×G×k²×H×W) on its reflect-padded copy."""
    k = math.isqrt(int(kernels.shape[2]))
    return lowpass_shift(pad_same(x, k), kernels)


class DynamicHighPass(nn.Module):
    """Content-adaptive high-pass filter; input and output B×C×H×W (any H, W ≥ 1).

    Keys: ``kernel_conv.weight`` [G·k², C, k, k], ``kernel_bn.*`` [G·k²], and ``fuse.*`` (mode "concat").
    ``softmax_scope="group"`` normalises each group's k² taps (every kernel sums to 1: exact low-pass, so the
    high-pass of a constant map is 0); ``"all"`` is Zou's joint softmax over all G·k² logits (ablation).
    ``mode``: "residual" -> x + Hf, "highpass" -> Hf, "concat" -> 1×1 conv of [x, Hf].
    """

    def __init__(
        self,
        channels: int,
        kernel_size: int = 3,
        groups: int = 8,
        softmax_scope: str = "group",
        mode: str = "residual",
    ) -> None:
        super().__init__()
        if channels % groups != 0:
            raise ConfigError(f"DynamicHighPass: groups {groups} must divide channels {channels}")
        if kernel_size % 2 != 1:
            raise ConfigError(f"DynamicHighPass: kernel_size must be odd, got {kernel_size}")
        if softmax_scope not in SOFTMAX_SCOPES or mode not in HPF_MODES:
            raise ConfigError(f"DynamicHighPass: softmax_scope {softmax_scope!r} / mode {mode!r} not in "
                             f"{SOFTMAX_SCOPES} / {HPF_MODES}")
        self.kernel_size = kernel_size
        self.groups = groups
        self.softmax_scope = softmax_scope
        self.mode = mode
        taps = groups * kernel_size * kernel_size
        self.kernel_conv = nn.Conv2d(channels, taps, kernel_size, padding=0, bias=False)
        self.kernel_bn = nn.BatchNorm2d(taps)
        nn.init.kaiming_normal_(self.kernel_conv.weight, mode="fan_out", nonlinearity="relu")
        self.fuse = nn.Conv2d(2 * channels, channels, 1) if mode == "concat" else None

    def predict_kernels(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel low-pass kernels B×G×k²×H×W, all positive (softmax)."""
        b, _, h, w = x.shape
        taps = self.kernel_size * self.kernel_size
        logits = self.kernel_bn(self.kernel_conv(pad_same(x, self.kernel_size)))
        if self.softmax_scope == "group":
            return torch.softmax(logits.view(b, self.groups, taps, h, w), dim=2)
        # Zou et al.'s released code: one softmax over all G·k² channels (groups do not sum to 1 alone).
        return torch.softmax(logits, dim=1).view(b, self.groups, taps, h, w)

    def forward_parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(output, high-pass map Hf = x - L), both B×C×H×W."""
        hf = x - apply_lowpass(x, self.predict_kernels(x))
        if self.mode == "residual":
            return x + hf, hf
        if self.mode == "highpass":
            return hf, hf
        assert self.fuse is not None
        return self.fuse(torch.cat([x, hf], dim=1)), hf

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_parts(x)[0]
