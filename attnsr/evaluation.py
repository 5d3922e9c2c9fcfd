"""Benchmark evaluation: (HR folders x scales x one method) -> per-image metric records and means.

A *method* is any callable ``(lr: Tensor (1, 3, h, w) in [0, 1]) -> Tensor (1, 3, h*s, w*s)``;
``resolve_method`` turns a CLI name into one (only ``bicubic`` here; trained networks plug in through
the same hook). A *metric* is an entry of :data:`METRICS`: a result key and a function
``(sr (C, H, W), hr (C, H, W), crop_border) -> float``; add lpips/niqe/... there.

Protocol (RCAN/BasicSR, see docs/evaluation.md): HR is modcropped to a multiple of the scale, LR made
on the fly with the chosen degradation and quantised to 8 bits (or read from ``lr_dir``), metrics on
the 8-bit SR output with ``crop_border = scale``; grayscale files are scored on their one channel.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from attnsr.errors import AttnsrError, ConfigError, ImageError
from attnsr.image.degrade import degrade, to_uint8_levels
from attnsr.image.io import load_image, save_image
from attnsr.image.resize import imresize, modcrop
from attnsr.metrics import psnr, ssim

Method = Callable[[torch.Tensor], torch.Tensor]
MetricFn = Callable[[torch.Tensor, torch.Tensor, int], float]

IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp")
#: folder names that stand for "the HR images of the parent folder" (Set5/HR, B100/GTmod12, ...)
_GENERIC_DIRS = {"hr", "gt", "gtmod12", "original", "hr_images", "image_srf_2", "image_srf_3", "image_srf_4"}


@dataclass(frozen=True)
class Metric:
    """A metric column: ``key`` in the records (``psnr_y``), ``label`` in tables, ``fn`` computes it."""

    key: str
    label: str
    fn: MetricFn


#: name given to --metrics -> metric (later issues add lpips, niqe, pi)
METRICS: dict[str, Metric] = {
    "psnr": Metric("psnr_y", "PSNR", lambda sr, hr, b: psnr(sr, hr, crop_border=b, test_y=True)),
    "ssim": Metric("ssim_y", "SSIM", lambda sr, hr, b: ssim(sr, hr, crop_border=b, test_y=True)),
    "psnr_rgb": Metric("psnr_rgb", "PSNR-RGB", lambda sr, hr, b: psnr(sr, hr, crop_border=b, test_y=False)),
    "ssim_rgb": Metric("ssim_rgb", "SSIM-RGB", lambda sr, hr, b: ssim(sr, hr, crop_border=b, test_y=False)),
}


def bicubic_method(scale: int) -> Method:
    """MATLAB ``imresize(LR_uint8, scale, 'bicubic')``: the LR is taken as 8-bit and each 1-D pass is
    rounded to uint8, exactly like the MATLAB baselines in the papers' tables."""

    def upscale(lr: torch.Tensor) -> torch.Tensor:
        return to_uint8_levels(imresize(to_uint8_levels(lr, as_uint8=True), float(scale)), lr.dtype)

    return upscale


#: built-in methods: name -> factory(scale) -> method
METHODS: dict[str, Callable[[int], Method]] = {"bicubic": bicubic_method}


def resolve_method(name: str | None, weights: str | None, scale: int,
                   device: str | torch.device = "cpu") -> Method:
    """The method to evaluate at ``scale``: a built-in name, or (later) a network by name/weights file."""
    if weights is not None:
        raise ConfigError(f"--weights {weights}: evaluating trained networks is not wired into "
                          "'attnsr eval' yet; available methods: " + ", ".join(METHODS))
    if name in METHODS:
        return METHODS[name](scale)
    raise ConfigError(f"unknown --model {name!r}; available: {', '.join(METHODS)}")


@dataclass(frozen=True)
class EvalSettings:
    """How LR images are made and scored. ``crop_border`` None means = scale; ``seed`` drives DN noise
    (per image: seed + crc32(name), so results do not depend on file order)."""

    degradation: str = "BI"
    metrics: tuple[str, ...] = ("psnr", "ssim")
    crop_border: int | None = None
    seed: int = 0
    lr_dir: Path | None = None
    save_dir: Path | None = None
    progress: bool = True


@dataclass(frozen=True)
class DatasetResult:
    """One dataset at one scale: per-image values, their means, and files that failed."""

    dataset: str
    scale: int
    degradation: str
    images: tuple[dict, ...]
    means: dict[str, float]
    failures: tuple[tuple[str, str], ...] = field(default=())

    def to_json(self) -> dict:
        return {"dataset": self.dataset, "scale": self.scale, "degradation": self.degradation,
                **self.means, "images": list(self.images),
                "failures": [{"name": n, "error": e} for n, e in self.failures]}


def dataset_name(folder: Path) -> str:
    """``Set5`` for ``.../Set5`` and for ``.../Set5/HR``."""
    folder = folder.resolve()
    return folder.parent.name if folder.name.lower() in _GENERIC_DIRS else folder.name


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, sorted by name."""
    if not folder.is_dir():
        raise ConfigError(f"{folder}: dataset folder not found")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
    if not files:
        raise ConfigError(f"{folder}: no images ({', '.join(IMAGE_SUFFIXES)}) in the folder")
    return files


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
    gen = torch.Generator().manual_seed(settings.seed + zlib.crc32(path.name.encode()))
    return degrade(hr, scale, settings.degradation, generator=gen)


def evaluate_image(method: Method, path: Path, scale: int, settings: EvalSettings,
                   save_to: Path | None = None) -> dict:
    """Score ``method`` on one HR file; returns ``{"name", <metric key>: value, ...}``."""
    loaded = load_image(path)
    hr = modcrop(loaded.rgb, scale)
    lr = _make_lr(hr, path, scale, settings)
    with torch.no_grad():
        sr = method(lr.unsqueeze(0))
    if sr.dim() != 4 or tuple(sr.shape[1:]) != tuple(hr.shape):
        raise ImageError(f"{path.name}: method returned shape {tuple(sr.shape)}, expected (1, {', '.join(map(str, hr.shape))})")
    sr = sr[0].float().cpu()
    if save_to is not None:
        save_image(save_to / f"{path.stem}.png", sr, gray=loaded.gray)
    if loaded.gray:  # score a grayscale file on its one channel
        sr, hr = sr.mean(dim=0, keepdim=True), hr[:1]
    border = scale if settings.crop_border is None else settings.crop_border
    record: dict = {"name": path.name}
    for name in settings.metrics:
        metric = METRICS[name]
        record[metric.key] = metric.fn(sr, hr, border)
    return record


def evaluate_dataset(method: Method, folder: Path, scale: int, settings: EvalSettings = EvalSettings()) -> DatasetResult:
    """Evaluate ``method`` on every image of ``folder``; a bad file is recorded and skipped."""
    unknown = [m for m in settings.metrics if m not in METRICS]
    if unknown:
        raise ConfigError(f"unknown metric(s) {', '.join(unknown)}; available: {', '.join(METRICS)}")
    name = dataset_name(folder)
    save_to = None if settings.save_dir is None else settings.save_dir / name / f"x{scale}"
    records, failures = [], []
    for path in tqdm(list_images(folder), desc=f"{name} x{scale}", unit="img", leave=False,
                     disable=not settings.progress, file=sys.stderr):
        try:
            records.append(evaluate_image(method, path, scale, settings, save_to))
        except AttnsrError as exc:
            failures.append((path.name, str(exc)))
    keys = [METRICS[m].key for m in settings.metrics]
    means = {k: (sum(r[k] for r in records) / len(records) if records else math.nan) for k in keys}
    return DatasetResult(name, scale, settings.degradation if settings.lr_dir is None else "lr-dir",
                         tuple(records), means, tuple(failures))


def format_table(results: Sequence[DatasetResult], metrics: Sequence[str], title: str = "") -> str:
    """A markdown table like the papers': one row per dataset, one column per scale, cells
    ``PSNR / SSIM`` (the chosen metrics joined by " / ")."""
    scales = sorted({r.scale for r in results})
    datasets = list(dict.fromkeys(r.dataset for r in results))
    by_key = {(r.dataset, r.scale): r for r in results}
    labels = " / ".join(METRICS[m].label for m in metrics)
    lines = [f"| {title or 'Dataset'} ({labels}) | " + " | ".join(f"x{s}" for s in scales) + " |",
             "|---|" + "---|" * len(scales)]
    for d in datasets:
        cells = []
        for s in scales:
            r = by_key.get((d, s))
            cells.append("-" if r is None else " / ".join(_fmt(METRICS[m].key, r.means[METRICS[m].key])
                                                          for m in metrics))
        lines.append(f"| {d} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt(key: str, value: float) -> str:
    return f"{value:.4f}" if key.startswith("ssim") else f"{value:.2f}"


def write_csv(path: Path, results: Sequence[DatasetResult], metrics: Sequence[str]) -> None:
    """Per-image rows: dataset, scale, name, one column per metric key (full precision)."""
    keys = [METRICS[m].key for m in metrics]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["dataset", "scale", "name", *keys])
        for r in results:
            for rec in r.images:
                writer.writerow([r.dataset, r.scale, rec["name"], *(repr(rec[k]) for k in keys)])


def write_json(path: Path, results: Sequence[DatasetResult], method: str) -> None:
    """One dataset and scale: the result object itself; several: ``{"method", "results": [...]}``."""
    payload = ({**results[0].to_json(), "method": method} if len(results) == 1
               else {"method": method, "results": [r.to_json() for r in results]})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2) + "\n")
