"""``attnsr compare IMAGE --models a,b --crop x,y,w,h``: the figure every SR paper prints.

The HR image is modcropped, made LR as ``attnsr eval`` makes it (``--degradation BI`` by default: MATLAB
bicubic quantised to 8 bits; ``realistic`` with ``--seed``: the real-photo setting, the same LR that
``attnsr eval --degradation realistic --seed S`` scores for that file), upscaled by bicubic and by every
model, and the same crop of each result is enlarged with nearest-neighbour (pixels stay visible) and put
side by side (HR, bicubic, models) with PSNR (Y, shave = scale, whole image) and LPIPS (whole image;
``LPIPS n/a`` without the weights) under each.

With ``--lr`` the image is itself the low-resolution input (a real photo, e.g. a camera JPEG): there is no
ground truth and no score; ``--crop`` is in input pixels and the panels are the input (pixels repeated),
bicubic and every model, all showing the same region.

Argument parsing and printing only; the figure is made by :mod:`attnsr.infer.comparison`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attnsr.cli.args import add_engine_arguments, engine_options
from attnsr.errors import ConfigError
from attnsr.infer.comparison import (
    MIN_PANEL_WIDTH,
    compare_models,
    compare_real,
    default_scale,
    parse_crop,
    parse_models,
    zoom_crop,
)

__all__ = ["MIN_PANEL_WIDTH", "parse_crop", "parse_models", "zoom_crop"]  # the figure's helpers, for callers

HELP = "side-by-side zoomed crops (HR, bicubic, each model) with PSNR/LPIPS: the papers' comparison figure"

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
    p.add_argument("--degradation", choices=("BI", "BD", "DN", "realistic"), default="BI",
                   help="how the LR is made from IMAGE, as attnsr eval makes it (default BI)")
    p.add_argument("--seed", type=int, default=0, help="seed of DN noise and realistic draws, as attnsr eval's")
    # compare names its models in --models; fp32 by default, as eval: it prints PSNR and LPIPS
    add_engine_arguments(p, model_help=None, precision_default="fp32")


def run(args: argparse.Namespace) -> int:
    from attnsr.image.io import save_array

    specs = parse_models(args.models)
    scale = args.scale or default_scale(specs)
    options = engine_options(args)
    out = args.output or args.image.with_name(f"{args.image.stem}_compare.png")
    if args.lr:
        if args.degradation != "BI":
            raise ConfigError("--degradation: not with --lr (the image is already the low-resolution input)")
        real = compare_real(args.image, specs, args.crop, scale, zoom=args.zoom, columns=args.columns,
                            device=args.device, threads=args.threads, chop=args.chop, options=options)
        save_array(out, real.figure)
        print(f"{out} ({len(real.captions)} panels, crop x{real.zoom} of the input)", file=sys.stderr)
        return 0
    fig = compare_models(args.image, specs, args.crop, scale, zoom=args.zoom, columns=args.columns,
                         device=args.device, threads=args.threads, chop=args.chop, options=options,
                         degradation=args.degradation, seed=args.seed,
                         on_message=lambda _level, text: print(f"attnsr compare: note: {text}", file=sys.stderr))
    save_array(out, fig.figure)
    for text in fig.captions[1:]:
        print(text)
    print(f"{out} ({len(fig.captions)} panels, crop x{fig.zoom})", file=sys.stderr)
    return 0
