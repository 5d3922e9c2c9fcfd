"""PSNR on pairs with a known MSE, the quantisation/shave/Y rules, and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attnsr.errors import ImageError
from attnsr.metrics import psnr


def test_known_mse_rgb_and_y():
    hr = np.full((20, 20, 3), 100, dtype=np.uint8)
    sr = hr + np.uint8(5)
    assert psnr(sr, hr, crop_border=0, test_y=False) == pytest.approx(10 * math.log10(255**2 / 25), abs=1e-12)
    dy = 5 * 219 / 255  # Y difference of a +5 gray step (unrounded Y)
    assert psnr(sr, hr, crop_border=0) == pytest.approx(10 * math.log10(255**2 / dy**2), abs=1e-12)


def test_border_is_shaved_and_identical_is_inf():
    hr = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    sr = hr.copy()
    sr[:3], sr[:, -3:] = 0, 255
    assert psnr(sr, hr, crop_border=3) == math.inf
    assert psnr(sr, hr, crop_border=2) < 30


def test_float_tensor_is_clamped_and_rounded_half_up():
    hr = torch.full((3, 8, 8), 10 / 255)
    assert psnr(hr + 0.49 / 255, hr, crop_border=0) == math.inf  # rounds back to level 10
    one_level = psnr(hr + 0.5 / 255, hr, crop_border=0, test_y=False)  # rounds up to level 11
    assert one_level == pytest.approx(10 * math.log10(255**2), abs=1e-9)
    assert psnr(torch.full((3, 8, 8), 1.7), torch.ones(3, 8, 8), crop_border=0) == math.inf


def test_gray_single_channel_and_errors():
    hr = torch.rand(1, 12, 12)
    sr = (hr + 4 / 255).clamp(max=1)
    a, b = (torch.floor(t * 255 + 0.5) for t in (sr, hr))
    expected = 10 * math.log10(255**2 / float(((a - b) ** 2).double().mean()))
    assert psnr(sr, hr, crop_border=0) == pytest.approx(expected, abs=1e-9)
    with pytest.raises(ImageError, match="differs"):
        psnr(torch.rand(3, 8, 8), torch.rand(3, 8, 9), crop_border=0)


@pytest.mark.parametrize("border", [1, 2, 4])
def test_exactly_crop_border_pixels_are_shaved(border):
    """An error on the first kept row and column counts with the right weight; one row further out does
    not count at all: PSNR shaves exactly ``crop_border`` pixels, no more, no less."""
    h, w = 20, 24
    hr = np.full((h, w, 3), 100, dtype=np.uint8)
    sr = hr.copy()
    sr[border, border:w - border] += 6        # first kept row
    sr[border + 1:h - border, w - border - 1] += 6  # last kept column
    sr[border - 1] = 0                        # outermost shaved row: never counted
    kept = (h - 2 * border) * (w - 2 * border)
    wrong = (w - 2 * border) + (h - 2 * border - 1)
    want = 10 * math.log10(255**2 * kept / (wrong * 36))
    assert psnr(sr, hr, crop_border=border, test_y=False) == pytest.approx(want, abs=1e-9)
