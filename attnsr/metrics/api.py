"""One metric interface: ``create(name, **options)`` -> a callable metric object, ``available()``.

The objects wrap the pure functions of this package (which stay the reference); they add input
handling and batching only, so ``create("psnr", crop_border=4)(sr, hr) == psnr(sr, hr, crop_border=4)``.

Inputs (each argument alike): a path, a PIL image, a numpy array (H×W, H×W×C; uint8, uint16 or float in
[0, 1]), a tensor (C, H, W) or a batch (N, C, H, W), float in [0, 1]. One image gives a float; a batch
gives a float64 tensor (N,) — for LPIPS a float32 tensor that keeps the autograd graph of tensor
inputs, so ``create("lpips")`` serves as a loss (``metric(sr, hr).mean().backward()``).

Every object has ``name``, ``lower_better`` and ``full_reference`` (False: called with one image).
PSNR/SSIM/NIQE/PI quantise float input to 8 bits first, as the SR protocol does (papers score saved
PNGs); 16-bit input is thereby scored on its 8-bit rounding. Differences from pyiqa's defaults, with
measured numbers: docs/evaluation.md ("Differences from pyiqa's defaults").
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attnsr.errors import ConfigError, ImageError

Image = Any  # str | PathLike | PIL.Image.Image | np.ndarray | torch.Tensor


def to_batch(image: Image, name: str = "image") -> tuple[torch.Tensor, bool]:
    """Any accepted input -> ((N, C, H, W) float32 in [0, 1], was it a batch). C = 1 (gray) or 3;
    alpha is dropped."""
    if isinstance(image, (str, os.PathLike)):
        from attnsr.image.io import load_image

        loaded = load_image(image)
        rgb = loaded.rgb[:1] if loaded.gray else loaded.rgb
        return rgb.unsqueeze(0), False
    if isinstance(image, torch.Tensor):
        if image.dim() == 3 and image.shape[0] in (1, 3):
            return image.unsqueeze(0), False
        if image.dim() == 4 and image.shape[1] in (1, 3):
            return image, True
        raise ImageError(f"{name}: expected a tensor (C, H, W) or (N, C, H, W) with C in (1, 3), got "
                         f"{tuple(image.shape)}")
    if not isinstance(image, np.ndarray):
        try:
            from PIL import Image as PILImage
        except ImportError:  # pragma: no cover - Pillow is a dependency
            PILImage = None  # type: ignore[assignment]
        if PILImage is not None and isinstance(image, PILImage.Image):
            from attnsr.infer.engine import _array_from_pil

            image = _array_from_pil(image)
        else:
            raise ImageError(f"{name}: expected a path, PIL image, numpy array or tensor, got "
                             f"{type(image).__name__}")
    from attnsr.infer.engine import split_array

    rgb, _alpha, gray, _maxval = split_array(image)
    return (rgb[:1] if gray else rgb).unsqueeze(0), False


def _pair(sr: Image, hr: Image) -> tuple[torch.Tensor, torch.Tensor, bool]:
    a, batched_a = to_batch(sr, "sr")
    b, batched_b = to_batch(hr, "hr")
    if a.shape[0] != b.shape[0]:
        raise ImageError(f"metric: {a.shape[0]} sr image(s) against {b.shape[0]} hr image(s)")
    return a, b, batched_a or batched_b


def _result(values: list[float], batched: bool) -> float | torch.Tensor:
    return torch.tensor(values, dtype=torch.float64) if batched else values[0]


@dataclass(frozen=True)
class FullReference:
    """PSNR or SSIM, MATLAB protocol: 8-bit, ``crop_border`` px shaved, BT.601 Y when ``test_y``."""

    name: str
    fn: Callable[..., float]
    crop_border: int = 0
    test_y: bool = True
    lower_better: bool = False
    full_reference: bool = True

    def __call__(self, sr: Image, hr: Image) -> float | torch.Tensor:
        a, b, batched = _pair(sr, hr)
        values = [self.fn(x, y, crop_border=self.crop_border, test_y=self.test_y) for x, y in zip(a, b)]
        return _result(values, batched)


class LPIPSMetric:
    """LPIPS distance (lower is better) on the whole image; differentiable in tensor inputs.

    The network is loaded at creation (``attnsr assets install lpips`` puts its weights in the cache);
    its weights are frozen. Gray input is repeated to three channels.
    """

    name = "lpips"
    lower_better = True
    full_reference = True

    def __init__(self, net: str = "alex", version: str = "0.1", device: str | torch.device = "cpu") -> None:
        from attnsr.metrics.lpips import LPIPSConfig, load_lpips_model

        self.device = torch.device(device)
        self.model = load_lpips_model(LPIPSConfig(net=net, version=version), device=self.device)  # type: ignore[arg-type]

    def __call__(self, sr: Image, hr: Image) -> float | torch.Tensor:
        a, b, batched = _pair(sr, hr)
        a, b = (t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t for t in (a, b))
        d = self.model(a.to(self.device, torch.float32), b.to(self.device, torch.float32))
        return d if batched else float(d[0])


@dataclass(frozen=True)
class NIQEMetric:
    """NIQE (lower is better) of one image: luminance by ``convert_to`` ('y' BT.601, 'gray' MATLAB
    rgb2gray), rounded to 8 bits, ``crop_border`` px shaved."""

    crop_border: int = 0
    convert_to: str = "y"
    name: str = "niqe"
    lower_better: bool = True
    full_reference: bool = False

    def __call__(self, image: Image) -> float | torch.Tensor:
        from attnsr.metrics.niqe import niqe

        x, batched = to_batch(image)
        scores = niqe(x, crop_border=self.crop_border, convert_to=self.convert_to)  # type: ignore[arg-type]
        return scores if batched else float(scores[0])


class PIMetric:
    """PIRM's perceptual index (lower is better): needs Ma's NRQM model file (``nrqm_model``)."""

    name = "pi"
    lower_better = True
    full_reference = False

    def __init__(self, nrqm_model: str | Path | None = None, shave: int = 4) -> None:
        from attnsr.metrics.pi import nrqm_scorer, unavailable_reason

        if nrqm_model is None:
            raise ConfigError(f"create('pi'): {unavailable_reason().replace('--nrqm-model', 'nrqm_model=')}")
        if not Path(nrqm_model).is_file():
            raise ConfigError(f"create('pi'): nrqm_model {nrqm_model}: no such file")
        self.shave = shave
        self._ma = nrqm_scorer(Path(nrqm_model))

    def __call__(self, image: Image) -> float | torch.Tensor:
        from attnsr.metrics.pi import perceptual_index

        x, batched = to_batch(image)
        values = [r.pi for r in perceptual_index(x, shave=self.shave, ma_scorer=self._ma)]
        return _result(values, batched)  # type: ignore[arg-type]


def _psnr(**opts: Any) -> FullReference:
    from attnsr.metrics.psnr import psnr

    return FullReference("psnr", psnr, **opts)


def _ssim(**opts: Any) -> FullReference:
    from attnsr.metrics.ssim import ssim

    return FullReference("ssim", ssim, **opts)


#: name -> (factory(**options), one line: defaults and what else it needs)
_FACTORIES: dict[str, tuple[Callable[..., Any], str]] = {
    "psnr": (_psnr, "PSNR in dB (higher better); crop_border=0, test_y=True (BT.601 Y, 16-235)"),
    "ssim": (_ssim, "SSIM (higher better); crop_border=0, test_y=True; 11x11 Gaussian, sigma 1.5"),
    "lpips": (LPIPSMetric, "LPIPS (lower better); net='alex', version='0.1', device='cpu'; needs "
                           "`attnsr assets install lpips`"),
    "niqe": (NIQEMetric, "NIQE (lower better, no reference); crop_border=0, convert_to='y'"),
    "pi": (PIMetric, "perceptual index (lower better, no reference); needs nrqm_model=FILE, shave=4"),
}


def available() -> dict[str, str]:
    """Every metric name :func:`create` accepts -> one line on its defaults and requirements."""
    return {name: line for name, (_f, line) in _FACTORIES.items()}


def create(name: str, **options: Any) -> Any:
    """The metric object ``name`` (see :func:`available`) with ``options`` overriding its defaults."""
    key = name.lower()
    if key not in _FACTORIES:
        raise ConfigError(f"unknown metric {name!r}; available: {', '.join(_FACTORIES)}")
    try:
        return _FACTORIES[key][0](**options)
    except TypeError as exc:  # an option the metric does not take
        raise ConfigError(f"create({name!r}): {exc}") from None
