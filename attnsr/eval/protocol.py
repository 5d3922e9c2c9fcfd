"""The evaluation protocol: (HR folder x scale x one method) -> per-image metric records and means.

A *method* is any callable ``(lr: Tensor (1, 3, h, w) in [0, 1]) -> Tensor (1, 3, h*s, w*s)``:
``bicubic`` is built in (MATLAB-exact, see :func:`bicubic_method`); networks come from the upscaling
engine (``attnsr eval`` wraps ``Upscaler.upscale_tensor``, configured like ``attnsr upscale``).

Protocol (RCAN/BasicSR, see docs/evaluation.md and docs/perceptual.md): HR is modcropped to a multiple
of the scale, LR made on the fly with the chosen degradation and quantised to 8 bits (or read from
``lr_dir``); every metric sees the SR output quantised to 8 bits (what a saved PNG holds), PSNR/SSIM/NIQE
with ``crop_border = scale`` pixels removed, LPIPS on the whole image, PI with its own shave (PIRM 4);
grayscale files are scored on their one channel.
"""

from __future__ import annotations

import math
import sys
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from attnsr.errors import AttnsrError, ConfigError, ImageError
from attnsr.eval.scorers import METRICS, MetricOptions, Scorer, prepare_metrics
from attnsr.image.degrade import degrade, quantize_uint8, to_uint8_levels
from attnsr.image.io import IMAGE_SUFFIXES, list_images, load_image, save_image
from attnsr.image.realistic import EVAL_REALISTIC, RealisticConfig, degrade_realistic, mix_seed
from attnsr.image.resize import imresize, modcrop
from attnsr.metrics.spectrum import Spectrum, combine, radial_power

Method = Callable[[torch.Tensor], torch.Tensor]

#: folder names that stand for "the HR images of the parent folder" (Set5/HR, B100/GTmod12, ...)
_GENERIC_DIRS = {"hr", "gt", "gtmod12", "original", "hr_images", "image_srf_2", "image_srf_3", "image_srf_4"}


def bicubic_method(scale: int) -> Method:
    """MATLAB ``imresize(LR_uint8, scale, 'bicubic')``: the LR is taken as 8-bit and each 1-D pass is
    rounded to uint8, exactly like the MATLAB baselines in the papers' tables."""

    def upscale(lr: torch.Tensor) -> torch.Tensor:
        return to_uint8_levels(imresize(to_uint8_levels(lr, as_uint8=True), float(scale)), lr.dtype)

    return upscale


#: built-in methods: name -> factory(scale) -> method
METHODS: dict[str, Callable[[int], Method]] = {"bicubic": bicubic_method}


@dataclass(frozen=True)
class EvalSettings:
    """How LR images are made and scored. ``degradation``: BI, BD, DN or ``realistic`` (the pipeline of
    ``realistic``, by default the fixed photo setting :data:`attnsr.image.realistic.EVAL_REALISTIC` that
    ``attnsr eval --degradation realistic`` uses); ``crop_border`` None means = scale;
    ``seed`` drives DN noise (per image: seed + crc32(name)) and the realistic draws (per image:
    ``mix_seed(seed, crc32(name))``), so results do not depend on file order; ``spectrum`` also pools
    the radial power spectrum of every SR/HR pair (see :mod:`attnsr.metrics.spectrum`)."""

    degradation: str = "BI"
    metrics: tuple[str, ...] = ("psnr", "ssim")
    crop_border: int | None = None
    seed: int = 0
    lr_dir: Path | None = None
    save_dir: Path | None = None
    progress: bool = True
    spectrum: bool = False
    metric_options: MetricOptions = field(default_factory=MetricOptions)
    realistic: RealisticConfig = EVAL_REALISTIC


@dataclass(frozen=True)
class DatasetResult:
    """One dataset at one scale: per-image values, their means (None for an unavailable metric, whose
    reason is in ``unavailable``), files that failed, and the pooled spectrum when asked for."""

    dataset: str
    scale: int
    degradation: str
    images: tuple[dict, ...]
    means: dict[str, float | None]
    failures: tuple[tuple[str, str], ...] = field(default=())
    unavailable: dict[str, str] = field(default_factory=dict)
    spectrum: Spectrum | None = None

    def to_json(self) -> dict:
        data: dict[str, Any] = {"dataset": self.dataset, "scale": self.scale, "degradation": self.degradation,
                **self.means, "images": list(self.images),
                "failures": [{"name": n, "error": e} for n, e in self.failures]}
        if self.unavailable:
            data["unavailable"] = dict(self.unavailable)
        if self.spectrum is not None:
            data["spectrum"] = {band: {"recovered": float(r), "energy_ratio": float(q)} for band, r, q in
                                zip(("low", "mid", "high"), self.spectrum.recovered, self.spectrum.energy_ratio)}
        return data


def dataset_name(folder: Path) -> str:
    """``Set5`` for ``.../Set5`` and for ``.../Set5/HR``."""
    folder = folder.resolve()
    return folder.parent.name if folder.name.lower() in _GENERIC_DIRS else folder.name


def find_lr(lr_dir: Path, stem: str, scale: int) -> Path:
    """The LR file for HR ``stem``: ``<stem>x<s>.*`` (EDSR layout), ``<stem>.*``, or a unique ``<stem>*``."""
    for base in (f"{stem}x{scale}", stem):
        for suffix in IMAGE_SUFFIXES:
            if (lr_dir / (base + suffix)).is_file():
                return lr_dir / (base + suffix)
    matches = [p for p in lr_dir.glob(f"{stem}*") if p.suffix.lower() in IMAGE_SUFFIXES]
    if len(matches) == 1:
        return matches[0]
    raise ImageError(f"{lr_dir}: no unique LR image for {stem!r} (looked for {stem}x{scale}.*, {stem}.*, {stem}*)")


def _make_lr(hr: torch.Tensor, path: Path, scale: int, settings: EvalSettings) -> torch.Tensor:
    if settings.lr_dir is not None:
        lr = load_image(find_lr(settings.lr_dir, path.stem, scale)).rgb
        want = (hr.shape[-2] // scale, hr.shape[-1] // scale)
        if tuple(lr.shape[-2:]) != want:
            raise ImageError(f"{path.name}: LR size {tuple(lr.shape[-2:])} != modcropped HR / {scale} = {want}")
        return lr
    return make_lr(hr, path.name, scale, settings.degradation, settings.seed, settings.realistic)


def make_lr(hr: torch.Tensor, name: str, scale: int, degradation: str = "BI", seed: int = 0,
            realistic: RealisticConfig = EVAL_REALISTIC) -> torch.Tensor:
    """The LR image ``attnsr eval`` scores for the (modcropped) ``hr`` of the file called ``name``: BI, BD
    or DN (noise drawn from ``seed + crc32(name)``), or ``realistic`` (the pipeline ``realistic``, by
    default :data:`EVAL_REALISTIC`, drawn from ``mix_seed(seed, crc32(name))``); 8-bit levels."""
    if degradation == "realistic":
        return degrade_realistic(hr, scale, realistic, [mix_seed(seed, zlib.crc32(name.encode()))])
    gen = torch.Generator().manual_seed(seed + zlib.crc32(name.encode()))
    return degrade(hr, scale, degradation, generator=gen)


PairSink = Callable[[torch.Tensor, torch.Tensor], None]


def evaluate_image(method: Method, path: Path, scale: int, settings: EvalSettings,
                   save_to: Path | None = None, scorers: Mapping[str, Scorer] | None = None,
                   on_pair: PairSink | None = None) -> dict:
    """Score ``method`` on one HR file; returns ``{"name", <metric key>: value, ...}``.

    ``on_pair`` receives the scored (SR, HR) pair, both (C, H, W) on the 8-bit grid (spectrum pooling).
    """
    loaded = load_image(path)
    hr = modcrop(loaded.rgb, scale)
    lr = _make_lr(hr, path, scale, settings)
    with torch.no_grad():
        sr = method(lr.unsqueeze(0))
    if sr.dim() != 4 or tuple(sr.shape[1:]) != tuple(hr.shape):
        raise ImageError(f"{path.name}: method returned shape {tuple(sr.shape)}, "
                         f"expected (1, {', '.join(map(str, hr.shape))})")
    sr = sr[0].float().cpu()
    if save_to is not None:
        save_image(save_to / f"{path.stem}.png", sr, gray=loaded.gray)
    return score_pair(path.name, sr, hr, loaded.gray, scale, settings, scorers, on_pair)


def score_pair(name: str, sr: torch.Tensor, hr: torch.Tensor, gray: bool, scale: int, settings: EvalSettings,
               scorers: Mapping[str, Scorer] | None = None, on_pair: PairSink | None = None) -> dict:
    """The record ``{"name", <metric key>: value, ...}`` of one SR (3, H, W) against its modcropped HR
    (3, H, W), both float in [0, 1]: SR quantised to 8 bits, a grayscale file scored on one channel,
    ``crop_border`` (default: the scale) shaved. Shared by ``attnsr eval`` and ``attnsr score``."""
    if gray:  # score a grayscale file on its one channel
        sr, hr = sr.mean(dim=0, keepdim=True), hr[:1]
    sr = quantize_uint8(sr)
    border = scale if settings.crop_border is None else settings.crop_border
    scorers = scorers if scorers is not None else prepare_metrics(settings.metrics, settings.metric_options)
    record: dict = {"name": name}
    for metric in settings.metrics:
        record[METRICS[metric].key] = scorers[metric].fn(sr, hr, border)
    if on_pair is not None:
        on_pair(sr, hr)
    return record


def _mean(values: Sequence[float | None]) -> float | None:
    if any(v is None for v in values):
        return None
    return sum(values) / len(values) if values else math.nan  # type: ignore[arg-type]


def evaluate_dataset(method: Method, folder: Path, scale: int, settings: EvalSettings = EvalSettings(),
                     scorers: Mapping[str, Scorer] | None = None) -> DatasetResult:
    """Evaluate ``method`` on every image of ``folder``; a bad file is recorded and skipped.

    Pass ``scorers`` (from :func:`prepare_metrics`) when evaluating several datasets, so LPIPS is
    loaded once.
    """
    scorers = dict(scorers) if scorers is not None else prepare_metrics(settings.metrics, settings.metric_options)
    missing = [m for m in settings.metrics if m not in scorers]
    if missing:
        raise ConfigError(f"evaluate_dataset: no scorer prepared for {', '.join(missing)}")
    name = dataset_name(folder)
    save_to = None if settings.save_dir is None else settings.save_dir / name / f"x{scale}"
    spectra: list[Spectrum] = []
    on_pair = (lambda sr, hr: spectra.append(radial_power(sr[None], hr[None]))) if settings.spectrum else None
    records, failures = [], []
    bar = tqdm(list_images(folder, what="dataset"), desc=f"{name} x{scale}", unit="img", leave=False,
               disable=not settings.progress, file=sys.stderr)
    for path in bar:
        bar.set_postfix_str(path.name)  # the image being processed, shown before its (slow) forward
        try:
            records.append(evaluate_image(method, path, scale, settings, save_to, scorers, on_pair))
        except AttnsrError as exc:
            failures.append((path.name, str(exc)))
    return collect_result(name, scale, settings.degradation if settings.lr_dir is None else "lr-dir", records,
                          failures, settings.metrics, scorers, spectra)


def collect_result(dataset: str, scale: int, degradation: str, records: Sequence[dict],
                   failures: Sequence[tuple[str, str]], metrics: Sequence[str], scorers: Mapping[str, Scorer],
                   spectra: Sequence[Spectrum] = ()) -> DatasetResult:
    """Per-image records -> a :class:`DatasetResult` with the means and the unavailable metrics' reasons."""
    keys = {m: METRICS[m].key for m in metrics}
    means = {k: _mean([r[k] for r in records]) for k in keys.values()}
    unavailable = {keys[m]: scorers[m].reason for m in metrics if scorers[m].reason}
    return DatasetResult(dataset, scale, degradation, tuple(records), means, tuple(failures),
                         unavailable, combine(list(spectra)) if spectra else None)  # type: ignore[arg-type]
