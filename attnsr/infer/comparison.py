"""The comparison figure every SR paper prints: the same zoomed crop of HR, bicubic and each model.

:func:`compare_models` modcrops the HR image, makes it LR as ``attnsr eval`` does (MATLAB bicubic
quantised to 8 bits by default; BD, DN or the real-photo ``realistic`` setting, drawn from the seed and the
file name, so the LR is the one ``eval`` scores), upscales it with bicubic and every model, and enlarges
the same crop of each result with nearest-neighbour (pixels stay visible), side by side (HR, bicubic,
models) with PSNR (Y, shave = scale, whole image) and LPIPS (whole image; ``LPIPS n/a`` without the
weights) in each caption.

:func:`compare_real` takes the image as the low-resolution input itself (a real photo): no ground truth and
no score; the crop is in input pixels and the panels are the input (pixels repeated), bicubic and every
model, all showing the same region.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from attnsr.errors import AttnsrError, ConfigError

if TYPE_CHECKING:
    from attnsr.infer.engine import EngineOptions

#: a panel narrower than this gets a larger nearest-neighbour zoom, so its caption fits
MIN_PANEL_WIDTH = 200

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class ModelSpec:
    """One model of a comparison: ``model`` as ``--model`` takes it, optional ``weights``, and a caption."""

    label: str
    model: str | None
    weights: Path | None


@dataclass(frozen=True)
class Comparison:
    """A comparison figure (uint8 RGB array), each panel's caption in order, and the crop's enlargement."""

    figure: np.ndarray
    captions: list[str]
    zoom: int


def parse_models(text: str) -> list[ModelSpec]:
    """``a,b=ckpt.pth,ckpt2.safetensors`` -> specs (a bare existing file is a checkpoint of any network)."""
    specs = []
    for item in (t.strip() for t in text.split(",")):
        if not item:
            continue
        if "=" in item:
            name, _, weights = item.partition("=")
            specs.append(ModelSpec(name.strip(), name.strip() or None, Path(weights.strip())))
        elif Path(item).is_file():
            specs.append(ModelSpec(Path(item).stem, None, Path(item)))
        else:
            specs.append(ModelSpec(item, item, None))
    if not specs:
        raise ConfigError("--models: name at least one model")
    return specs


def parse_crop(crop: str | Sequence[int], height: int, width: int) -> Box:
    """``x,y,w,h`` (text or four ints) -> ints, checked to lie inside an image of ``height`` x ``width``."""
    text = crop if isinstance(crop, str) else ",".join(str(v) for v in crop)
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--crop: expected x,y,w,h (four integers), got {text!r}") from None
    if w < 1 or h < 1 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise ConfigError(f"--crop {text}: outside the image ({width}x{height} pixels)")
    return x, y, w, h


def default_scale(specs: Sequence[ModelSpec]) -> int:
    """The first checkpoint's scale (so a x2 model needs no scale given), else 4."""
    from attnsr.models import from_official

    for spec in specs:
        if spec.weights is not None:
            return int(getattr(from_official(spec.weights, arch=None), "attnsr_config").scale)
    return 4


def zoom_crop(img: torch.Tensor, box: Box, zoom: int) -> np.ndarray:
    """(3, H, W) in [0, 1] -> uint8 (h*zoom, w*zoom, 3) of the box, enlarged by pixel repetition."""
    from attnsr.image.io import to_uint8

    x, y, w, h = box
    crop = to_uint8(img[:, y:y + h, x:x + w])
    return np.ascontiguousarray(crop.repeat(zoom, axis=0).repeat(zoom, axis=1))


def caption(label: str, sr: torch.Tensor, hr: torch.Tensor, scale: int, lpips: Any) -> str:
    """``label: 28.42 dB / LPIPS 0.2114`` for an SR (3, H, W) on the 8-bit grid against HR."""
    from attnsr.metrics import psnr

    text = f"{label}: {psnr(sr, hr, crop_border=scale, test_y=True):.2f} dB"
    if lpips is None or min(hr.shape[-2:]) < 32:
        return text + " / LPIPS n/a"
    device = next(lpips.parameters()).device
    with torch.no_grad():
        value = float(lpips(sr[None].to(device), hr[None].to(device)))
    return text + f" / LPIPS {value:.4f}"


@dataclass(frozen=True)
class _Runner:
    """Runs each spec's model through the engine (built per model, as the command line builds it)."""

    device: str
    threads: int
    chop: bool
    options: EngineOptions | None

    def __call__(self, spec: ModelSpec, lr: torch.Tensor, scale: int) -> torch.Tensor:
        from attnsr.infer.resolve import build_engine

        engine, _ = build_engine(spec.model, spec.weights, scale, device=self.device, threads=self.threads,
                                 chop=self.chop, options=self.options)
        with torch.no_grad():
            return engine.upscale_tensor(lr[None])[0].float().cpu()


def _load_rgb(image: str | Path | torch.Tensor) -> torch.Tensor:
    if isinstance(image, torch.Tensor):
        return image
    from attnsr.image.io import load_image

    return load_image(image).rgb


def _lpips_or_none(device: str, on_message: Callable[[str, str], object]) -> Any:
    from attnsr.metrics import load_lpips_model

    try:
        return load_lpips_model(device=device)
    except AttnsrError as exc:  # missing assets: the figure still gets made, captions say "LPIPS n/a"
        on_message("note", str(exc))
        return None


def _is_bicubic(spec: ModelSpec) -> bool:
    return spec.model == "bicubic" and spec.weights is None  # always shown


def compare_models(image: str | Path | torch.Tensor, specs: Sequence[ModelSpec], crop: str | Sequence[int],
                   scale: int | None = None, *, zoom: int | None = None, columns: int | None = None,
                   device: str = "auto", threads: int = 0, chop: bool = False,
                   options: EngineOptions | None = None, degradation: str = "BI", seed: int = 0,
                   on_message: Callable[[str, str], object] | None = None) -> Comparison:
    """The HR comparison figure of ``image`` (a file, or a (3, H, W) tensor in [0, 1]). ``crop``: the
    region in HR pixels; ``scale`` None: :func:`default_scale`; ``zoom`` None: enough for
    :data:`MIN_PANEL_WIDTH` pixels per panel; ``columns`` None: one row; ``degradation`` and ``seed``: how
    the LR is made (:func:`attnsr.eval.make_lr`; a tensor is named ``image``). The engine options are those
    of :func:`attnsr.infer.resolve.build_engine`. Notes (no LPIPS weights) go to ``on_message``."""
    from attnsr.eval import bicubic_method, make_lr
    from attnsr.image.degrade import quantize_uint8
    from attnsr.image.resize import modcrop
    from attnsr.infer.figures import panel_grid
    from attnsr.infer.memory import pick_device

    s = scale or default_scale(specs)
    hr = modcrop(_load_rgb(image), s)
    box = parse_crop(crop, hr.shape[-2], hr.shape[-1])
    text = crop if isinstance(crop, str) else ",".join(str(v) for v in crop)
    z = zoom or max(1, math.ceil(MIN_PANEL_WIDTH / box[2]))
    name = "image" if isinstance(image, torch.Tensor) else Path(image).name
    lr = make_lr(hr, name, s, degradation, seed)
    lpips = _lpips_or_none(str(pick_device(device)), on_message or (lambda _level, _text: None))
    bicubic = bicubic_method(s)(lr[None])[0]
    run = _Runner(device, threads, chop, options)
    hr_label = f"HR ({text})" if degradation == "BI" else f"HR ({text}; LR {degradation}, seed {seed})"
    panels = [(zoom_crop(hr, box, z), hr_label),
              (zoom_crop(bicubic, box, z), caption("bicubic", bicubic, hr, s, lpips))]
    for spec in specs:
        if _is_bicubic(spec):
            continue
        sr = quantize_uint8(run(spec, lr, s))
        panels.append((zoom_crop(sr, box, z), caption(spec.label, sr, hr, s, lpips)))
    return Comparison(panel_grid(panels, columns=columns), [c for _, c in panels], z)


def compare_real(image: str | Path | torch.Tensor, specs: Sequence[ModelSpec], crop: str | Sequence[int],
                 scale: int | None = None, *, zoom: int | None = None, columns: int | None = None,
                 device: str = "auto", threads: int = 0, chop: bool = False,
                 options: EngineOptions | None = None) -> Comparison:
    """The real-photo figure: ``image`` is the LR input; ``crop`` in input pixels; the input's panel is
    enlarged by ``scale`` x ``zoom`` (pixels repeated), bicubic's and each model's by ``zoom``. The
    returned ``zoom`` is the input panel's enlargement."""
    from attnsr.evaluation import bicubic_method
    from attnsr.image.degrade import quantize_uint8
    from attnsr.infer.figures import panel_grid

    s = scale or default_scale(specs)
    lr = _load_rgb(image)
    x, y, w, h = parse_crop(crop, lr.shape[-2], lr.shape[-1])
    text = crop if isinstance(crop, str) else ",".join(str(v) for v in crop)
    z = zoom or max(1, math.ceil(MIN_PANEL_WIDTH / (w * s)))
    box = (x * s, y * s, w * s, h * s)
    run = _Runner(device, threads, chop, options)
    panels = [(zoom_crop(lr, (x, y, w, h), z * s), f"input ({text})"),
              (zoom_crop(bicubic_method(s)(lr[None])[0], box, z), f"bicubic x{s}")]
    for spec in specs:
        if _is_bicubic(spec):
            continue
        panels.append((zoom_crop(quantize_uint8(run(spec, lr, s)), box, z), spec.label))
    return Comparison(panel_grid(panels, columns=columns), [c for _, c in panels], z * s)
