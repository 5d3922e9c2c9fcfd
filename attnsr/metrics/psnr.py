"""PSNR as SR papers compute it (RCAN's ``Evaluate_PSNR_SSIM.m``, BasicSR ``calculate_psnr``).

SR output clamped and rounded to uint8 first, ``crop_border`` pixels (= scale) shaved from every side,
BT.601 Y (16..235, not rounded) when ``test_y`` else all RGB channels, float64, peak 255.
"""

from __future__ import annotations

import math

import numpy as np

from attnsr.metrics._prepare import ImageLike, prepare_pair


def psnr(sr: ImageLike, hr: ImageLike, *, crop_border: int, test_y: bool = True) -> float:
    """PSNR in dB of ``sr`` against ``hr``: tensors (C, H, W) float [0, 1] or uint8 arrays (H, W, C);
    C = 3 (Y or RGB) or 1 (grayscale, evaluated on that channel). ``inf`` for identical images."""
    a, b = prepare_pair(sr, hr, crop_border, test_y)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 * 255.0 / mse)
