"""Perceptual Index (PIRM 2018 challenge): PI = ((10 - Ma) + NIQE) / 2, lower is better.

Ma is the no-reference score of Ma et al., "Learning a no-reference quality metric for single-image
super-resolution" (CVIU 2017, "NRQM"): regression forests over DCT, wavelet (GSM) and PCA statistics,
implemented in :mod:`attnsr.metrics.nrqm`. Its trained model is not shipped and never downloaded; the
user passes pyiqa's converted ``NRQM_model.mat`` (IQA-PyTorch's release of Ma's model as plain arrays),
obtained themselves. So:

* with an ``ma_scorer`` (any callable scoring one Y image, e.g. a wrapper around the MATLAB code or
  precomputed scores) PI is computed with it;
* otherwise with ``nrqm_model`` (the .mat file) the model is loaded once per call and each image is scored
  with :func:`attnsr.metrics.nrqm.nrqm` (:func:`nrqm_scorer` loads it once for many calls);
* with neither, every result still carries NIQE and says *why* PI is unavailable -- PI is never silently
  dropped.

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
from attnsr.metrics.nrqm import load_nrqm_model, nrqm

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


def unavailable_reason() -> str:
    """Why PI cannot be computed when neither an NRQM model file nor a Ma scorer is given."""
    return ("PI needs Ma's NRQM score: pass --nrqm-model FILE, pyiqa's (IQA-PyTorch) converted NRQM_model.mat, "
            "which you must obtain yourself (attnsr downloads nothing); only NIQE is reported")


def nrqm_scorer(nrqm_model: Path) -> MaScorer:
    """A Ma scorer backed by the NRQM model file, which is read and validated once, here."""
    model = load_nrqm_model(nrqm_model)
    return lambda y: nrqm(y, model)


def perceptual_index(img: torch.Tensor, *, shave: int = PIRM_SHAVE, nrqm_model: Path | None = None,
                     ma_scorer: MaScorer | None = None) -> list[PIResult]:
    """NIQE, Ma and PI per image of ``img`` (N, 3, H, W) RGB or (N, 1, H, W) Y, float in [0, 1].

    ``shave`` >= 0 pixels are removed from every border first (PIRM 4, FASRGAN 0). Ma comes from
    ``ma_scorer`` when given, else from the ``nrqm_model`` file (loaded once; ConfigError naming the file
    and key when it is missing or malformed); with neither the results carry the reason PI is unavailable.
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
    if ma_scorer is None and nrqm_model is not None:
        ma_scorer = nrqm_scorer(Path(nrqm_model))
    scores = niqe(y)
    results = []
    for one, n in zip(y, scores.tolist()):
        if ma_scorer is None:
            results.append(PIResult(niqe=n, reason=unavailable_reason()))
            continue
        ma = float(ma_scorer(one[None]))
        results.append(PIResult(niqe=n, ma=ma, pi=pi_from_scores(ma, n)))
    return results
