"""``attnsr upscale``: upscale image files (bicubic baseline for now; the engine issue adds networks,
tiling and self-ensemble). Grayscale, alpha (bicubic-upscaled) and 16-bit depth are kept."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attnsr.errors import AttnsrError, ConfigError
from attnsr.evaluation import resolve_method
from attnsr.image.io import load_image, save_image
from attnsr.image.resize import imresize

HELP = "Upscale images (bicubic baseline until trained models are wired in)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image files")
    parser.add_argument("-o", "--output", type=Path, required=True,
                        help="output file (one input) or folder (several inputs, or an existing folder)")
    parser.add_argument("--scale", type=int, default=4, help="upscaling factor (default: 4)")
    parser.add_argument("--model", default="bicubic", help="method (default: bicubic)")
    parser.add_argument("--weights", default=None, help="checkpoint of a trained network (not yet supported)")
    parser.add_argument("--format", default=None, choices=("png", "jpg", "webp"),
                        help="output format when writing into a folder (default: png)")
    parser.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality (default: 95)")


def _target(args: argparse.Namespace, src: Path) -> Path:
    if len(args.inputs) == 1 and not args.output.is_dir() and args.output.suffix:
        return args.output
    return args.output / f"{src.stem}_x{args.scale}.{args.format or 'png'}"


def run(args: argparse.Namespace) -> int:
    if args.scale < 1:
        raise ConfigError(f"--scale must be >= 1, got {args.scale}")
    method = resolve_method(args.model, args.weights, args.scale)
    failures = []
    for src in args.inputs:
        try:
            img = load_image(src)
            sr = method(img.rgb.unsqueeze(0))[0]
            alpha = None if img.alpha is None else imresize(img.alpha, float(args.scale)).clamp(0, 1)
            out = save_image(_target(args, src), sr, alpha=alpha, gray=img.gray,
                             bit_depth=img.bit_depth if _target(args, src).suffix.lower() == ".png" else 8,
                             quality=args.quality)
            print(f"{src} -> {out}")
        except AttnsrError as exc:
            print(f"attnsr upscale: error: {exc}", file=sys.stderr)
            failures.append(src)
    if failures:
        print(f"{len(failures)} of {len(args.inputs)} file(s) failed: {', '.join(map(str, failures))}",
              file=sys.stderr)
        return 1
    return 0
