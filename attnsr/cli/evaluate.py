"""``attnsr eval``: score a method on benchmark HR folders (argument parsing only; the work is in
:mod:`attnsr.evaluation`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attnsr.errors import ConfigError
from attnsr.evaluation import (METRICS, EvalSettings, evaluate_dataset, format_table, resolve_method,
                               write_csv, write_json)
from attnsr.image.degrade import KINDS

HELP = "Evaluate a method (PSNR/SSIM on Y, MATLAB protocol) on HR image folders at one or more scales."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", default="bicubic", help="method name (default: bicubic)")
    parser.add_argument("--weights", default=None, help="checkpoint file of a trained network")
    parser.add_argument("--dataset", action="append", required=True, type=Path, metavar="DIR",
                        help="folder of HR images (repeatable)")
    parser.add_argument("--scale", action="append", required=True, type=int, metavar="S",
                        help="upscaling factor (repeatable)")
    parser.add_argument("--degradation", default="BI", choices=KINDS, help="how LR is made (default: BI)")
    parser.add_argument("--lr-dir", type=Path, default=None,
                        help="read LR images from this folder instead (one dataset and scale only)")
    parser.add_argument("--metrics", default="psnr,ssim",
                        help=f"comma-separated, from: {', '.join(METRICS)} (default: psnr,ssim)")
    parser.add_argument("--crop-border", type=int, default=None, help="border shave (default: the scale)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the DN noise (default: 0)")
    parser.add_argument("--device", default="cpu", help="torch device for networks (default: cpu)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="write results as JSON")
    parser.add_argument("--csv", type=Path, default=None, metavar="FILE", help="write per-image CSV")
    parser.add_argument("--save-images", type=Path, default=None, metavar="DIR",
                        help="write every SR output as PNG under DIR/<dataset>/x<scale>/")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    unknown = [m for m in metrics if m not in METRICS]
    if unknown or not metrics:
        raise ConfigError(f"--metrics: unknown {', '.join(unknown) or '(empty)'}; available: {', '.join(METRICS)}")
    if args.lr_dir is not None and (len(args.dataset) > 1 or len(args.scale) > 1):
        raise ConfigError("--lr-dir works with exactly one --dataset and one --scale")
    settings = EvalSettings(degradation=args.degradation, metrics=metrics, crop_border=args.crop_border,
                            seed=args.seed, lr_dir=args.lr_dir, save_dir=args.save_images,
                            progress=not args.no_progress)
    results = []
    for scale in args.scale:
        method = resolve_method(args.model, args.weights, scale, args.device)
        for folder in args.dataset:
            results.append(evaluate_dataset(method, folder, scale, settings))
    name = args.weights or args.model
    print(format_table(sorted(results, key=lambda r: r.scale), metrics, title=f"{name} {args.degradation}"))
    if args.csv:
        write_csv(args.csv, results, metrics)
    if args.json:
        write_json(args.json, results, name)
    failures = [(r.dataset, n, e) for r in results for n, e in r.failures]
    if failures:
        print(f"\n{len(failures)} image(s) failed:", file=sys.stderr)
        for dataset, n, e in failures:
            print(f"  {dataset}/{n}: {e}", file=sys.stderr)
        return 1
    return 0
