"""``attnsr compare IMAGE --models a,b --crop x,y,w,h``: the figure every SR paper prints.

The HR image is modcropped, made LR with MATLAB bicubic (quantised to 8 bits, as in ``attnsr eval``),
upscaled by bicubic and by every model, and the same crop of each result is enlarged with
nearest-neighbour (pixels stay visible) and put side by side (HR, bicubic, models) with PSNR (Y, shave =
scale, whole image) and LPIPS (whole image; ``LPIPS n/a`` without the weights) under each.

With ``--lr`` the image is itself the low-resolution input (a real photo, e.g. a camera JPEG): there is no
ground truth and no score; ``--crop`` is in input pixels and the panels are the input (pixels repeated),
bicubic and every model, all showing the same region.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from attnsr.cli.args import add_engine_arguments, engine_options
from attnsr.errors import AttnsrError, ConfigError

HELP = "side-by-side zoomed crops (HR, bicubic, each model) with PSNR/LPIPS: the papers' comparison figure"

#: a panel narrower than this gets a larger nearest-neighbour zoom, so its caption fits
MIN_PANEL_WIDTH = 200


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", type=Path, metavar="IMAGE", help="HR image (ground truth), or the LR input with --lr")
    p.add_argument("--lr", action="store_true",
                   help="IMAGE is the low-resolution input (a real photo): no ground truth, no scores; "
                        "--crop in input pixels")
    p.add_argument("--models", required=True,
                   help="comma-separated: bicubic, default, bundled names, NAME=WEIGHTS or a checkpoint path")
    p.add_argument("--crop", required=True, help="x,y,w,h of the region to zoom, in HR pixels (input pixels with --lr)")
    p.add_argument("--scale", type=int, default=None, help="upscaling factor (default: the first checkpoint's, or 4)")
    p.add_argument("-o", "--output", type=Path, default=None, help="PNG to write (default: <image>_compare.png)")
    p.add_argument("--zoom", type=int, default=None,
                   help=f"nearest-neighbour enlargement of the crop (default: enough for {MIN_PANEL_WIDTH} px)")
    p.add_argument("--columns", type=int, default=None, help="panels per row (default: all in one row)")
    # compare names its models in --models; fp32 by default, as eval: it prints PSNR and LPIPS
    add_engine_arguments(p, model_help=None, precision_default="fp32")


@dataclass(frozen=True)
class ModelSpec:
    """One entry of --models: ``model`` as ``--model`` takes it, optional ``weights``, and a caption."""

    label: str
    model: str | None
    weights: Path | None


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


def parse_crop(text: str, height: int, width: int) -> tuple[int, int, int, int]:
    """``x,y,w,h`` -> ints, checked to lie inside the (modcropped) HR image of ``height`` x ``width``."""
    try:
        x, y, w, h = (int(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--crop: expected x,y,w,h (four integers), got {text!r}") from None
    if w < 1 or h < 1 or x < 0 or y < 0 or x + w > width or y + h > height:
        raise ConfigError(f"--crop {text}: outside the image ({width}x{height} pixels)")
    return x, y, w, h


def _lpips_or_none(device: str):  # -> LPIPS | None
    from attnsr.metrics import load_lpips_model

    try:
        return load_lpips_model(device=device)
    except AttnsrError as exc:  # missing assets: the figure still gets made, captions say "LPIPS n/a"
        print(f"attnsr compare: note: {exc}", file=sys.stderr)
        return None


def caption(label: str, sr: torch.Tensor, hr: torch.Tensor, scale: int, lpips) -> str:
    """``label: 28.42 dB / LPIPS 0.2114`` for an SR (3, H, W) on the 8-bit grid against HR."""
    from attnsr.metrics import psnr

    text = f"{label}: {psnr(sr, hr, crop_border=scale, test_y=True):.2f} dB"
    if lpips is None or min(hr.shape[-2:]) < 32:
        return text + " / LPIPS n/a"
    device = next(lpips.parameters()).device
    with torch.no_grad():
        value = float(lpips(sr[None].to(device), hr[None].to(device)))
    return text + f" / LPIPS {value:.4f}"


def zoom_crop(img: torch.Tensor, box: tuple[int, int, int, int], zoom: int) -> np.ndarray:
    """(3, H, W) in [0, 1] -> uint8 (h*zoom, w*zoom, 3) of the box, enlarged by pixel repetition."""
    from attnsr.image.io import to_uint8

    x, y, w, h = box
    crop = to_uint8(img[:, y:y + h, x:x + w])
    return np.ascontiguousarray(crop.repeat(zoom, axis=0).repeat(zoom, axis=1))


def _run_model(args: argparse.Namespace, spec: ModelSpec, lr: torch.Tensor, scale: int) -> torch.Tensor:
    from attnsr.infer.resolve import build_engine

    engine, _ = build_engine(spec.model, spec.weights, scale, device=args.device, threads=args.threads,
                             chop=args.chop, options=engine_options(args))
    with torch.no_grad():
        return engine.upscale_tensor(lr[None])[0].float().cpu()


def default_scale(specs: list[ModelSpec]) -> int:
    """The first checkpoint's scale (so a x2 model needs no --scale), else 4."""
    from attnsr.models import from_official

    for spec in specs:
        if spec.weights is not None:
            return int(getattr(from_official(spec.weights, arch=None), "attnsr_config").scale)
    return 4


def run(args: argparse.Namespace) -> int:
    from attnsr.evaluation import bicubic_method
    from attnsr.image.degrade import degrade, quantize_uint8
    from attnsr.image.io import load_image, save_array
    from attnsr.image.resize import modcrop
    from attnsr.infer.engine import pick_device
    from attnsr.infer.figures import panel_grid

    specs = parse_models(args.models)
    scale = args.scale or default_scale(specs)
    if args.lr:
        return _run_real(args, specs, scale)
    hr = modcrop(load_image(args.image).rgb, scale)
    box = parse_crop(args.crop, hr.shape[-2], hr.shape[-1])
    zoom = args.zoom or max(1, math.ceil(MIN_PANEL_WIDTH / box[2]))
    lr = degrade(hr, scale, "BI")
    lpips = _lpips_or_none(str(pick_device(args.device)))
    bicubic = bicubic_method(scale)(lr[None])[0]
    panels = [(zoom_crop(hr, box, zoom), f"HR ({args.crop})"),
              (zoom_crop(bicubic, box, zoom), caption("bicubic", bicubic, hr, scale, lpips))]
    for spec in specs:
        if spec.model == "bicubic" and spec.weights is None:
            continue  # always shown
        sr = quantize_uint8(_run_model(args, spec, lr, scale))
        panels.append((zoom_crop(sr, box, zoom), caption(spec.label, sr, hr, scale, lpips)))
    out = args.output or args.image.with_name(f"{args.image.stem}_compare.png")
    save_array(out, panel_grid(panels, columns=args.columns))
    for _, text in panels[1:]:
        print(text)
    print(f"{out} ({len(panels)} panels, crop x{zoom})", file=sys.stderr)
    return 0


def _run_real(args: argparse.Namespace, specs: list[ModelSpec], scale: int) -> int:
    """``--lr``: crops of the input (pixels repeated by scale x zoom), bicubic and each model's output."""
    from attnsr.evaluation import bicubic_method
    from attnsr.image.degrade import quantize_uint8
    from attnsr.image.io import load_image, save_array
    from attnsr.infer.figures import panel_grid

    lr = load_image(args.image).rgb
    x, y, w, h = parse_crop(args.crop, lr.shape[-2], lr.shape[-1])
    zoom = args.zoom or max(1, math.ceil(MIN_PANEL_WIDTH / (w * scale)))
    box = (x * scale, y * scale, w * scale, h * scale)
    panels = [(zoom_crop(lr, (x, y, w, h), zoom * scale), f"input ({args.crop})"),
              (zoom_crop(bicubic_method(scale)(lr[None])[0], box, zoom), f"bicubic x{scale}")]
    for spec in specs:
        if spec.model == "bicubic" and spec.weights is None:
            continue  # always shown
        panels.append((zoom_crop(quantize_uint8(_run_model(args, spec, lr, scale)), box, zoom), spec.label))
    out = args.output or args.image.with_name(f"{args.image.stem}_compare.png")
    save_array(out, panel_grid(panels, columns=args.columns))
    print(f"{out} ({len(panels)} panels, crop x{zoom * scale} of the input)", file=sys.stderr)
    return 0
