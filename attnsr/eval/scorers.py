"""The metrics of the evaluation protocol: :data:`METRICS` maps a name given to ``--metrics`` to a
:class:`Metric` (a result key, a table label and a factory that prepares a :class:`Scorer` once per run
from :class:`MetricOptions`; LPIPS loads its network there, not per image).

A scorer maps ``(sr (C, H, W), hr (C, H, W), crop_border)`` to a float, or to None when the metric is
unavailable, the reason being on the scorer (PI without Ma's NRQM model) -- never silently dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from attnsr.errors import ConfigError, ImageError
from attnsr.metrics import psnr, ssim
from attnsr.metrics.pi import PIRM_SHAVE, MaScorer, nrqm_scorer, unavailable_reason

ScoreFn = Callable[[torch.Tensor, torch.Tensor, int], "float | None"]


@dataclass(frozen=True)
class MetricOptions:
    """Set-up of the perceptual metrics. ``lpips_net``/``lpips_version``: see :class:`LPIPSConfig`
    (FASRGAN's tables: alex, 0.0); ``nrqm_model``: pyiqa's converted NRQM_model.mat for PI (loaded once
    per run); ``ma_scorer``: any other Ma implementation, used instead of the file when given (PI is
    unavailable with neither); ``pi_shave``: 4 (PIRM) or 0 (FASRGAN)."""

    lpips_net: str = "alex"
    lpips_version: str = "0.1"
    nrqm_model: Path | None = None
    ma_scorer: MaScorer | None = None
    pi_shave: int = PIRM_SHAVE
    device: str | torch.device = "cpu"


@dataclass(frozen=True)
class Scorer:
    """A prepared metric. ``reason`` set means unavailable: ``fn`` then returns None for every image."""

    fn: ScoreFn
    reason: str | None = None


@dataclass(frozen=True)
class Metric:
    """A metric column: ``key`` in the records (``psnr_y``), ``label`` in tables, ``make`` prepares it."""

    key: str
    label: str
    make: Callable[[MetricOptions], Scorer]


def _fixed(fn: ScoreFn) -> Callable[[MetricOptions], Scorer]:
    return lambda _options: Scorer(fn)


def _as_rgb(x: torch.Tensor) -> torch.Tensor:
    """(C, H, W) with C = 1 or 3 -> (1, 3, H, W): LPIPS needs colour input; gray is repeated."""
    return (x if x.shape[0] == 3 else x.expand(3, -1, -1)).unsqueeze(0)


def _make_lpips(options: MetricOptions) -> Scorer:
    """LPIPS on the whole image (no shave, as the official scripts), SR vs HR; loaded once here."""
    from attnsr.metrics import LPIPSConfig, load_lpips_model

    model = load_lpips_model(LPIPSConfig(net=options.lpips_net, version=options.lpips_version),  # type: ignore[arg-type]
                             device=options.device)

    def score(sr: torch.Tensor, hr: torch.Tensor, _border: int) -> float:
        with torch.no_grad():
            return float(model(_as_rgb(sr).to(options.device), _as_rgb(hr).to(options.device))[0])

    return Scorer(score)


def _niqe_score(img: torch.Tensor, border: int) -> float:
    from attnsr.metrics import niqe

    try:
        return float(niqe(img.unsqueeze(0), crop_border=border)[0])
    except RuntimeError as exc:  # a single 96x96 block has no covariance (linalg fails on NaN)
        raise ImageError(f"NIQE failed on an image of shape {tuple(img.shape)} (needs at least two 96x96 "
                         f"blocks after the {border}-px shave): {exc}") from None


def _make_pi(options: MetricOptions) -> Scorer:
    """PIRM's perceptual index; Ma from ``ma_scorer`` or the NRQM model file (read once, here), else
    unavailable with the reason."""
    from attnsr.metrics import perceptual_index

    if options.nrqm_model is not None and not Path(options.nrqm_model).is_file():
        raise ConfigError(f"--nrqm-model: no such file {options.nrqm_model}")
    if options.pi_shave < 0:
        raise ConfigError(f"--pi-shave must be >= 0, got {options.pi_shave}")
    ma_scorer = options.ma_scorer
    if ma_scorer is None and options.nrqm_model is not None:
        ma_scorer = nrqm_scorer(Path(options.nrqm_model))
    if ma_scorer is None:
        return Scorer(lambda sr, hr, b: None, reason=unavailable_reason())

    def score(sr: torch.Tensor, _hr: torch.Tensor, _border: int) -> float | None:
        return perceptual_index(sr.unsqueeze(0), shave=options.pi_shave, ma_scorer=ma_scorer)[0].pi

    return Scorer(score)


#: name given to --metrics -> metric
METRICS: dict[str, Metric] = {
    "psnr": Metric("psnr_y", "PSNR", _fixed(lambda sr, hr, b: psnr(sr, hr, crop_border=b, test_y=True))),
    "ssim": Metric("ssim_y", "SSIM", _fixed(lambda sr, hr, b: ssim(sr, hr, crop_border=b, test_y=True))),
    "psnr_rgb": Metric("psnr_rgb", "PSNR-RGB", _fixed(lambda sr, hr, b: psnr(sr, hr, crop_border=b, test_y=False))),
    "ssim_rgb": Metric("ssim_rgb", "SSIM-RGB", _fixed(lambda sr, hr, b: ssim(sr, hr, crop_border=b, test_y=False))),
    "lpips": Metric("lpips", "LPIPS", _make_lpips),
    "niqe": Metric("niqe", "NIQE", _fixed(lambda sr, hr, b: _niqe_score(sr, b))),
    "pi": Metric("pi", "PI", _make_pi),
}


def check_metrics(names: Sequence[str]) -> None:
    """ConfigError naming every unknown metric (and the known ones)."""
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise ConfigError(f"--metrics: unknown {', '.join(unknown) or '(empty)'}; available: {', '.join(METRICS)}")


def prepare_metrics(names: Sequence[str], options: MetricOptions = MetricOptions()) -> dict[str, Scorer]:
    """Scorers for ``names`` (do this once per run: LPIPS loads its weights here)."""
    check_metrics(names)
    return {name: METRICS[name].make(options) for name in names}
