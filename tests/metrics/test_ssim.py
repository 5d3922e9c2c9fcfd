"""SSIM against an independent scipy implementation of Wang et al.'s ssim_index.m."""

from __future__ import annotations

import numpy as np
import pytest
import torch

scipy_signal = pytest.importorskip("scipy.signal")

from attnsr.image.color import rgb_to_y  # noqa: E402
from attnsr.metrics import ssim  # noqa: E402


def _ssim_reference(a: np.ndarray, b: np.ndarray) -> float:
    u = np.arange(11) - 5.0
    w = np.exp(-(u[:, None] ** 2 + u[None] ** 2) / (2 * 1.5**2))
    w /= w.sum()

    def f(x):
        return scipy_signal.correlate2d(x, w, mode="valid")

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = f(a), f(b)
    vx, vy, cxy = f(a * a) - mx**2, f(b * b) - my**2, f(a * b) - mx * my
    return float(np.mean((2 * mx * my + c1) * (2 * cxy + c2) / ((mx**2 + my**2 + c1) * (vx + vy + c2))))


def _pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    hr = rng.integers(0, 256, (40, 33, 3), dtype=np.uint8)
    noise = rng.normal(0, 12, hr.shape)
    sr = np.clip(hr + noise, 0, 255).round().astype(np.uint8)
    return sr, hr


def test_matches_scipy_reference_on_y_and_rgb():
    sr, hr = _pair()
    b = 3
    ys, yh = (rgb_to_y(x[b:-b, b:-b]) for x in (sr, hr))
    assert ssim(sr, hr, crop_border=b) == pytest.approx(_ssim_reference(ys, yh), abs=1e-10)
    rgb = np.mean([_ssim_reference(sr[b:-b, b:-b, c].astype(float), hr[b:-b, b:-b, c].astype(float))
                   for c in range(3)])
    assert ssim(sr, hr, crop_border=b, test_y=False) == pytest.approx(rgb, abs=1e-10)


def test_identical_is_one_and_tensor_input_agrees():
    sr, hr = _pair(1)
    assert ssim(hr, hr, crop_border=0) == pytest.approx(1.0, abs=1e-12)
    t_sr = torch.from_numpy(sr).permute(2, 0, 1).float() / 255
    t_hr = torch.from_numpy(hr).permute(2, 0, 1).float() / 255
    assert ssim(t_sr, t_hr, crop_border=2) == pytest.approx(ssim(sr, hr, crop_border=2), abs=1e-12)
    assert 0.5 < ssim(sr, hr, crop_border=0) < 0.999
