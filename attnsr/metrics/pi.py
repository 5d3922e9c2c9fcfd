"""Perceptual Index (PIRM 2018 challenge): PI = ((10 - Ma) + NIQE) / 2, lower is better.

Ma is the no-reference score of Ma et al., "Learning a no-reference quality metric for single-image
super-resolution" (CVIU 2017, "NRQM"), a regression forest over DCT, wavelet and PCA statistics whose
trained model is a MATLAB file that no PyPI package ships. attnsr does not implement NRQM yet, so:

* with an ``ma_scorer`` (any callable scoring one Y image, e.g. a wrapper around the MATLAB code or
  precomputed scores) PI is computed;
* otherwise every result still carries NIQE and says *why* PI is unavailable (no model given, or a model
  file given but no NRQM implementation to run it) -- PI is never silently dropped.

Both scores are computed like PIRM's ``evaluate_results.m``: on the BT.601 Y channel rounded to 8 bits,
after removing ``shave`` pixels per border -- 4 in PIRM (``PIRM_SHAVE``), 0 in FASRGAN's Test_scripts
(``FASRGAN_SHAVE``, specs/fasrgan.md section 6).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from attnsr.errors import ConfigError, ImageError
from attnsr.image.color import rgb_to_y
from attnsr.metrics.niqe import niqe

PIRM_SHAVE = 4
FASRGAN_SHAVE = 0

#: scores one image: (1, 1, H, W) Y in [0, 1], already shaved and rounded to 8-bit levels -> Ma score
MaScorer = Callable[[torch.Tensor], float]


@dataclass(frozen=True)
class PIResult:
    """Per-image result. ``pi`` and ``ma`` are None exactly when ``reason`` says why."""

    niqe: float
    ma: float | None = None
    pi: float | None = None
    reason: str | None = None

    @property
    def available(self) -> bool:
        return self.pi is not None


def pi_from_scores(ma: float, niqe_score: float) -> float:
    """PIRM's combination of the two no-reference scores (Ma: 0-10, higher better; NIQE: lower better)."""
    return ((10.0 - ma) + niqe_score) / 2.0


def unavailable_reason(nrqm_model: Path | None) -> str:
    """Why PI cannot be computed without a scorer, naming the model file when one was given."""
    if nrqm_model is None:
        return ("PI needs Ma's NRQM score, which no PyPI package ships and attnsr cannot compute yet "
                "(an --nrqm-model file cannot be scored yet either); only NIQE is reported")
    return (f"PI needs Ma's NRQM score: {nrqm_model} was given but attnsr has no NRQM implementation yet; "
            "pass an ma_scorer to compute it")


def perceptual_index(img: torch.Tensor, *, shave: int = PIRM_SHAVE, nrqm_model: Path | None = None,
                     ma_scorer: MaScorer | None = None) -> list[PIResult]:
    """NIQE, Ma and PI per image of ``img`` (N, 3, H, W) RGB or (N, 1, H, W) Y, float in [0, 1].

    ``shave`` >= 0 pixels are removed from every border first (PIRM 4, FASRGAN 0). ``nrqm_model`` is
    checked to exist; without ``ma_scorer`` the results carry the reason PI is unavailable.
    """
    if img.dim() != 4 or img.shape[1] not in (1, 3):
        raise ImageError(f"perceptual_index: expected (N, 3, H, W) or (N, 1, H, W), got {tuple(img.shape)}")
    if shave < 0 or 2 * shave >= min(img.shape[-2:]):
        raise ConfigError(f"perceptual_index: shave={shave} does not fit images of shape {tuple(img.shape)}")
    if nrqm_model is not None and not Path(nrqm_model).is_file():
        raise ConfigError(f"--nrqm-model: no such file {nrqm_model}")
    y = img.detach().double()
    y = rgb_to_y(y) if y.shape[1] == 3 else y
    y = torch.round(y * 255.0) / 255.0  # PIRM reads Y as uint8
    if shave:
        y = y[..., shave:-shave, shave:-shave]
    scores = niqe(y)
    results = []
    for one, n in zip(y, scores.tolist()):
        if ma_scorer is None:
            results.append(PIResult(niqe=n, reason=unavailable_reason(nrqm_model)))
            continue
        ma = float(ma_scorer(one[None]))
        results.append(PIResult(niqe=n, ma=ma, pi=pi_from_scores(ma, n)))
    return results
