"""BT.601 Y / YCbCr against MATLAB's published formula."""

from __future__ import annotations

import numpy as np
import torch

from attnsr.image.color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb


def test_y_matches_formula_on_both_scales():
    rgb = np.random.default_rng(0).random((5, 4, 3))
    expected = 16 + 65.481 * rgb[..., 0] + 128.553 * rgb[..., 1] + 24.966 * rgb[..., 2]
    np.testing.assert_allclose(rgb_to_y(rgb) * 255, expected, atol=1e-10)
    t = torch.from_numpy(rgb).permute(2, 0, 1)
    np.testing.assert_allclose(rgb_to_y(t)[0].numpy() * 255, expected, atol=1e-10)
    u8 = (rgb * 255).round().astype(np.uint8)
    np.testing.assert_allclose(rgb_to_y(u8), 16 + (u8 @ np.array([65.481, 128.553, 24.966])) / 255, atol=1e-10)


def test_y_of_gray_is_gray_and_not_rounded():
    g = np.linspace(0, 1, 7)
    gray = np.stack([g, g, g], axis=-1)
    np.testing.assert_allclose(rgb_to_y(gray) * 255, 16 + 219 * g, atol=1e-10)  # 65.481+128.553+24.966 = 219
    assert rgb_to_y(np.array([[128, 128, 128]], dtype=np.uint8))[0] == 16 + 219 * 128 / 255  # 125.929..., unrounded
    ycc = rgb_to_ycbcr(gray)
    np.testing.assert_allclose(ycc[..., 1:] * 255, 128, atol=1e-10)


def test_ycbcr_round_trip_numpy_and_torch():
    rgb = torch.rand(2, 3, 6, 5, dtype=torch.float64)
    torch.testing.assert_close(ycbcr_to_rgb(rgb_to_ycbcr(rgb)), rgb)
    u8 = np.random.default_rng(1).integers(0, 256, (4, 4, 3), dtype=np.uint8)
    np.testing.assert_allclose(ycbcr_to_rgb(rgb_to_ycbcr(u8).round().astype(np.uint8)), u8, atol=1.5)
    assert rgb_to_ycbcr(np.array([1.0, 1.0, 1.0]))[0] * 255 == 235.0
