"""NIQE against MATLAB's published value and the AGGD fit against distributions with known shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from attnsr.errors import ImageError
from attnsr.metrics.niqe import BLOCK, _aggd_fit, niqe, pristine_model

MATLAB_BABOON = 5.72957338  # MATLAB R2021a niqe, whole image (../shared/metric-data/README.md)


@pytest.fixture(scope="module")
def baboon(shared) -> torch.Tensor:
    path = shared / "metric-data" / "baboon.png"
    arr = np.array(Image.open(path).convert("RGB"))
    return torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255.0


def test_baboon_matches_matlab(baboon: torch.Tensor) -> None:
    score = float(niqe(baboon)[0])
    assert round(score, 4) == 5.7296
    assert abs(score - MATLAB_BABOON) < 5e-6


def test_baboon_with_border_crop_shifts_the_block_grid(baboon: torch.Tensor) -> None:
    # The README's figure for a 4-px crop: "about 5.989".
    assert abs(float(niqe(baboon, crop_border=4)[0]) - 5.989) < 2e-3


def test_batch_scores_each_image() -> None:
    g = torch.Generator().manual_seed(0)
    noise = torch.rand(1, 3, BLOCK * 2, BLOCK * 2, generator=g)
    smooth = torch.nn.functional.avg_pool2d(noise, 5, 1, 2)
    scores = niqe(torch.cat([noise, smooth, noise]))
    assert scores.shape == (3,) and scores.dtype == torch.float64
    assert scores[0] == scores[2]
    assert scores[0] != scores[1]


def test_pristine_model_shapes() -> None:
    model = pristine_model()
    assert model.mu.shape == (36,) and model.cov.shape == (36, 36) and model.window.shape == (7, 7)
    assert torch.allclose(model.cov, model.cov.T)


@pytest.mark.parametrize("shape", [(1, 3, BLOCK - 1, 200), (3, BLOCK, BLOCK), (1, 2, BLOCK, BLOCK)])
def test_rejects_bad_shapes(shape: tuple[int, ...]) -> None:
    with pytest.raises(ImageError, match="shape"):
        niqe(torch.rand(shape))


def test_aggd_fit_recovers_known_shapes() -> None:
    # Gaussian: shape 2, both scales sigma*sqrt(2); Laplacian: shape 1, scale b.
    g = torch.Generator().manual_seed(1)
    gauss = torch.randn(1, 200_000, generator=g, dtype=torch.float64) * 0.5
    u = torch.rand(1, 200_000, generator=g, dtype=torch.float64) - 0.5
    lap = -0.3 * u.sign() * torch.log1p(-2 * u.abs())  # inverse-CDF Laplace(0, 0.3)
    alpha, bl, br = _aggd_fit(torch.cat([gauss, lap]))
    assert alpha[0] == pytest.approx(2.0, abs=0.05) and alpha[1] == pytest.approx(1.0, abs=0.03)
    assert bl[0] == pytest.approx(0.5 * 2**0.5, rel=0.02) and br[0] == pytest.approx(0.5 * 2**0.5, rel=0.02)
    assert bl[1] == pytest.approx(0.3, rel=0.03) and br[1] == pytest.approx(0.3, rel=0.03)
