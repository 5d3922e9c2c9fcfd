"""imresize against hand-computed values and an independent per-pixel implementation of MATLAB's rule."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from attnsr.image.resize import imresize, modcrop


def _keys(x: float) -> float:
    x = abs(x)
    if x <= 1:
        return 1.5 * x**3 - 2.5 * x**2 + 1
    if x <= 2:
        return -0.5 * x**3 + 2.5 * x**2 - 4 * x + 2
    return 0.0


def _mirror(i: int, n: int) -> int:
    """1-based index i folded into 1..n with the edge repeated (symmetric padding)."""
    while i < 1 or i > n:
        i = 1 - i if i < 1 else 2 * n + 1 - i
    return i


def _weights_1d(n_in: int, n_out: int, s: float) -> np.ndarray:
    """Dense (n_out, n_in) matrix written directly from the MATLAB rule, pixel by pixel."""
    m = np.zeros((n_out, n_in))
    width = 4 / s if s < 1 else 4
    for x in range(1, n_out + 1):
        u = x / s + 0.5 * (1 - 1 / s)
        taps = range(math.floor(u - width / 2), math.floor(u - width / 2) + math.ceil(width) + 2)
        ws = [(s * _keys(s * (u - j)) if s < 1 else _keys(u - j)) for j in taps]
        total = sum(ws)
        for j, w in zip(taps, ws):
            m[x - 1, _mirror(j, n_in) - 1] += w / total
    return m


def _reference(img: np.ndarray, out_hw: tuple[int, int], scales: tuple[float, float]) -> np.ndarray:
    rows = _weights_1d(img.shape[0], out_hw[0], scales[0])
    cols = _weights_1d(img.shape[1], out_hw[1], scales[1])
    return np.einsum("ih,hwc,jw->ijc", rows, img, cols)


def test_hand_computed_two_pixel_row_upscaled_x2():
    # u = 0.75, 1.25, 1.75, 2.25; weights from Keys' kernel at 0.25/0.75/1.25/1.75, edges mirrored
    out = imresize(np.array([[0.0, 1.0]]), size=(1, 4))
    np.testing.assert_allclose(out[0], [-0.09375, 0.203125, 0.796875, 1.09375], atol=1e-12)


@pytest.mark.parametrize("shape,scale,expected", [
    ((7, 5), 0.5, (4, 3)), ((10, 9), 1 / 3, (4, 3)), ((5, 3), 2.5, (13, 8)), ((6, 6), 4, (24, 24)),
])
def test_output_size_is_ceil(shape, scale, expected):
    assert imresize(np.zeros(shape), scale).shape == expected


@pytest.mark.parametrize("shape,scale,size", [
    ((7, 5, 3), 0.5, None), ((11, 9, 1), 1 / 3, None), ((5, 7, 3), 2.5, None), ((9, 13, 2), 0.6, None),
    ((6, 5, 3), None, (4, 9)), ((8, 7, 1), 1 / 4, None), ((4, 3, 3), 3, None),
])
def test_matches_independent_per_pixel_formula(shape, scale, size):
    rng = np.random.default_rng(0)
    img = rng.random(shape)
    out = imresize(img, scale, size=size)
    out_hw = out.shape[:2]
    scales = (scale, scale) if size is None else (size[0] / shape[0], size[1] / shape[1])
    np.testing.assert_allclose(out, _reference(img, out_hw, scales), atol=1e-12)


def test_uint8_rounds_after_each_pass_in_matlab_order():
    rng = np.random.default_rng(1)
    img = rng.integers(0, 256, (9, 12, 3), dtype=np.uint8)
    out = imresize(img, size=(5, 20))  # row scale 5/9 < column scale 20/12: rows first
    rows = _weights_1d(9, 5, 5 / 9)
    cols = _weights_1d(12, 20, 20 / 12)
    first = np.clip(np.floor(np.einsum("ih,hwc->iwc", rows, img.astype(float)) + 0.5), 0, 255)
    second = np.clip(np.floor(np.einsum("hwc,jw->hjc", first, cols) + 0.5), 0, 255)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, second.astype(np.uint8))


@pytest.mark.parametrize("scale", [1 / 4, 1 / 3, 0.7, 2, 2.5, 4])
def test_constant_image_stays_constant(scale):
    np.testing.assert_allclose(imresize(np.full((13, 10, 3), 0.37), scale), 0.37, atol=1e-12)
    assert np.all(imresize(np.full((13, 10), 200, dtype=np.uint8), scale) == 200)
    t = imresize(torch.full((2, 3, 13, 10), 0.37), scale)
    torch.testing.assert_close(t, torch.full_like(t, 0.37))


def test_torch_batched_matches_numpy_and_is_differentiable():
    rng = np.random.default_rng(2)
    img = rng.random((2, 3, 15, 11))
    t = torch.tensor(img, requires_grad=True)
    out = imresize(t, 1 / 3)
    for n in range(2):
        expected = imresize(img[n].transpose(1, 2, 0), 1 / 3).transpose(2, 0, 1)
        np.testing.assert_allclose(out[n].detach().numpy(), expected, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x: imresize(x, 2.5), (torch.rand(1, 1, 4, 5, dtype=torch.float64,
                                                                             requires_grad=True),))
    assert out.dtype == torch.float64 and imresize(torch.rand(3, 8, 8), 2).dtype == torch.float32


def test_uint8_tensor_equals_uint8_array():
    img = np.random.default_rng(3).integers(0, 256, (12, 9, 3), dtype=np.uint8)
    t = imresize(torch.from_numpy(img).permute(2, 0, 1), 1 / 3)
    np.testing.assert_array_equal(t.permute(1, 2, 0).numpy(), imresize(img, 1 / 3))


def test_modcrop():
    assert modcrop(np.zeros((13, 10, 3)), 4).shape == (12, 8, 3)
    assert modcrop(torch.zeros(2, 3, 13, 10), 3).shape == (2, 3, 12, 9)
