"""Perceptual Index: the PIRM formula, shave handling, the typed 'unavailable' path and bad model files
(scoring with a model file: tests/metrics/test_nrqm.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attnsr.errors import ConfigError, ImageError
from attnsr.metrics.niqe import niqe
from attnsr.metrics.pi import FASRGAN_SHAVE, PIRM_SHAVE, PIResult, perceptual_index, pi_from_scores


@pytest.fixture(scope="module")
def baboon(shared) -> torch.Tensor:
    arr = np.array(Image.open(shared / "metric-data" / "baboon.png").convert("RGB"))
    return torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255.0


def test_formula() -> None:
    assert pi_from_scores(ma=8.0, niqe_score=3.0) == 2.5
    assert pi_from_scores(ma=10.0, niqe_score=0.0) == 0.0


def test_unavailable_without_scorer_but_niqe_kept(baboon: torch.Tensor) -> None:
    [res] = perceptual_index(baboon, shave=FASRGAN_SHAVE)
    assert isinstance(res, PIResult) and not res.available and res.pi is None and res.ma is None
    assert "--nrqm-model" in res.reason and "NRQM_model.mat" in res.reason and "downloads nothing" in res.reason
    assert res.niqe == pytest.approx(5.7296, abs=1e-4)  # shave 0 = NIQE of the whole image


def test_bad_or_missing_model_file_is_a_config_error(baboon: torch.Tensor, tmp_path: Path) -> None:
    model = tmp_path / "NRQM_model.mat"
    model.write_bytes(b"not really")
    with pytest.raises(ConfigError, match="NRQM_model.mat: not a MATLAB v5 .mat file"):
        perceptual_index(baboon[..., :200, :200], shave=PIRM_SHAVE, nrqm_model=model)
    with pytest.raises(ConfigError, match="no such file .*missing.mat"):
        perceptual_index(baboon, nrqm_model=tmp_path / "missing.mat")


def test_with_scorer_combines_and_shaves(baboon: torch.Tensor) -> None:
    seen = []

    def scorer(y: torch.Tensor) -> float:
        seen.append(tuple(y.shape))
        assert torch.equal(y * 255, torch.round(y * 255))  # 8-bit levels, like PIRM's uint8 Y
        return 7.5

    crop = baboon[..., :200, :210]
    [res] = perceptual_index(crop, shave=PIRM_SHAVE, ma_scorer=scorer)
    assert seen == [(1, 1, 200 - 8, 210 - 8)]
    expected_niqe = float(niqe(crop, crop_border=4)[0])
    assert res.niqe == pytest.approx(expected_niqe, abs=1e-9)
    assert res.available and res.ma == 7.5 and res.pi == pytest.approx((2.5 + expected_niqe) / 2)


def test_bad_inputs() -> None:
    with pytest.raises(ImageError, match="shape|got"):
        perceptual_index(torch.rand(3, 100, 100))
    with pytest.raises(ConfigError, match="shave=60"):
        perceptual_index(torch.rand(1, 3, 100, 100), shave=60)
