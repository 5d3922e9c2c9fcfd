"""SSIM as SR papers compute it (Wang et al. 2004 ``ssim_index.m`` as used by RCAN's evaluation script,
and BasicSR ``calculate_ssim``): 11x11 Gaussian window σ = 1.5, K1 = 0.01, K2 = 0.03, L = 255,
'valid' filtering, no downsampling; inputs prepared like PSNR (uint8, border shave, unrounded Y).
Multi-channel (RGB, ``test_y=False``) SSIM is the mean of the per-channel values.
"""

from __future__ import annotations

import numpy as np

from attnsr.errors import ImageError
from attnsr.metrics._prepare import ImageLike, prepare_pair

WINDOW_SIZE = 11
WINDOW_SIGMA = 1.5
K1, K2, DATA_RANGE = 0.01, 0.03, 255.0


def gaussian_window_1d(size: int = WINDOW_SIZE, sigma: float = WINDOW_SIGMA) -> np.ndarray:
    """1-D factor g of MATLAB ``fspecial('gaussian', size, sigma)`` = outer(g, g); float64, sums to 1.
    (The normalised 2-D Gaussian is exactly the outer product of normalised 1-D ones.)"""
    t = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(t**2) / (2.0 * sigma * sigma))
    return g / g.sum()


def filter_valid(x: np.ndarray, g: np.ndarray) -> np.ndarray:
    """MATLAB ``filter2(outer(g, g), x, 'valid')`` for a symmetric g, separably: (H, W) -> (H-k+1, W-k+1)."""
    rows = np.lib.stride_tricks.sliding_window_view(x, g.size, axis=0) @ g
    return np.lib.stride_tricks.sliding_window_view(rows, g.size, axis=1) @ g


def ssim_map(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Per-pixel SSIM of two float64 (H, W) images on the 0-255 scale; 'valid' region only,
    so the result is (H-10, W-10)."""
    g = gaussian_window_1d()
    c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
    mu_x, mu_y = filter_valid(x, g), filter_valid(y, g)
    sxx = filter_valid(x * x, g) - mu_x**2
    syy = filter_valid(y * y, g) - mu_y**2
    sxy = filter_valid(x * y, g) - mu_x * mu_y
    return ((2 * mu_x * mu_y + c1) * (2 * sxy + c2)) / ((mu_x**2 + mu_y**2 + c1) * (sxx + syy + c2))


def ssim(sr: ImageLike, hr: ImageLike, *, crop_border: int, test_y: bool = True) -> float:
    """Mean SSIM of ``sr`` against ``hr`` (same inputs as :func:`attnsr.metrics.psnr`); in [-1, 1]."""
    a, b = prepare_pair(sr, hr, crop_border, test_y)
    if min(a.shape[0], a.shape[1]) < WINDOW_SIZE:
        raise ImageError(f"ssim: image {a.shape[:2]} after border crop is smaller than the "
                         f"{WINDOW_SIZE}x{WINDOW_SIZE} window")
    per_channel = [ssim_map(a[..., c], b[..., c]).mean() for c in range(a.shape[-1])]
    return float(np.mean(per_channel))
