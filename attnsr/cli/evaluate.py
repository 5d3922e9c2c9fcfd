"""``attnsr eval``: score bicubic or a network on benchmark HR folders at one or more scales (argument
parsing only; the work is in :mod:`attnsr.evaluation`, the model/engine options are ``attnsr upscale``'s)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attnsr.cli.args import add_engine_arguments, engine_options
from attnsr.cli.report import report_failures
from attnsr.errors import ConfigError
from attnsr.evaluation import (
    METHODS,
    METRICS,
    EvalSettings,
    Method,
    MetricOptions,
    check_metrics,
    evaluate_dataset,
    format_spectrum_table,
    format_table,
    prepare_metrics,
    write_csv,
    write_json,
    write_spectra,
)
from attnsr.image.degrade import KINDS

HELP = ("Evaluate bicubic (the default) or a network (PSNR/SSIM on Y, LPIPS, NIQE, PI, spectrum) on HR "
        "image folders.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", action="append", required=True, type=Path, metavar="DIR",
                        help="folder of HR images (repeatable)")
    parser.add_argument("--scale", action="append", type=int, metavar="S",
                        help="upscaling factor (repeatable; default with --weights: the checkpoint's)")
    # eval's defaults differ from upscale's: the MATLAB bicubic baseline, whole images (no tiling), fp32 and
    # the plain network at the borders (no mirror padding), as the papers evaluate (tiling and fp16 change
    # global-pooling/attention networks' outputs slightly)
    add_engine_arguments(parser, model_help="bicubic (the default), 'default' (bundled), another bundled model, "
                                            "or a registry network name together with --weights", tile_default="0",
                         precision_default="fp32", border_default="none")
    parser.add_argument("--degradation", default="BI", choices=(*KINDS, "realistic"),
                        help="how LR is made (default: BI); realistic: blur, noise and JPEG as in a photo, "
                             "the fixed setting of docs/evaluation.md, drawn per image from --seed")
    parser.add_argument("--lr-dir", type=Path, default=None,
                        help="read LR images from this folder instead (one dataset and scale only)")
    parser.add_argument("--metrics", default="psnr,ssim",
                        help=f"comma-separated, from: {', '.join(METRICS)} (default: psnr,ssim)")
    parser.add_argument("--crop-border", type=int, default=None, help="border shave (default: the scale)")
    parser.add_argument("--lpips-net", default="alex", choices=("alex", "vgg"), help="LPIPS backbone")
    parser.add_argument("--lpips-version", default="0.1", choices=("0.1", "0.0"),
                        help="LPIPS heads: 0.1 (default) or 0.0 (FASRGAN's tables, no input scaling)")
    parser.add_argument("--nrqm-model", type=Path, default=None, metavar="FILE",
                        help="Ma et al.'s NRQM model file, needed for PI")
    parser.add_argument("--pi-shave", type=int, default=4, choices=(4, 0),
                        help="border removed before PI: 4 (PIRM, default) or 0 (FASRGAN)")
    parser.add_argument("--spectrum", nargs="?", const=Path("spectrum"), default=None, type=Path, metavar="DIR",
                        help="also measure the radial power spectrum; CSV + PNG per dataset into DIR "
                             "(default: ./spectrum)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the DN noise and the realistic degradation (default: 0)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="write results as JSON")
    parser.add_argument("--csv", type=Path, default=None, metavar="FILE", help="write per-image CSV")
    parser.add_argument("--save-images", type=Path, default=None, metavar="DIR",
                        help="write every SR output as PNG under DIR/<dataset>/x<scale>/")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--quiet", dest="no_progress", action="store_true", help=argparse.SUPPRESS)


def method_for(args: argparse.Namespace, scale: int | None) -> tuple[Method, int, str]:
    """(method, scale, label): the MATLAB-exact bicubic, or a model run by the upscaling engine."""
    # without --model and --weights eval scores the MATLAB bicubic baseline (its historical default)
    name = (args.model or ("bicubic" if args.weights is None else "")).lower()
    if args.weights is None and name in METHODS:
        if scale is None:
            raise ConfigError("--scale is required (only a --weights checkpoint knows its own scale)")
        return METHODS[name](scale), scale, name
    from attnsr.infer.resolve import build_engine

    engine, resolved = build_engine(args.model, args.weights, scale, device=args.device, threads=args.threads,
                                    chop=args.chop, options=engine_options(args))
    if args.no_progress:
        return (lambda lr: engine.upscale_tensor(lr)), resolved.scale, resolved.label

    def with_tiles(lr):  # a bar per image for slow networks (HSPAN: minutes per image on a CPU)
        from tqdm import tqdm

        h, w = lr.shape[-2:]
        n = engine.count_tiles(h, w)
        with tqdm(total=n, desc="  tiles", unit="tile", leave=False, file=sys.stderr, disable=n < 2) as bar:
            return engine.upscale_tensor(lr, progress=bar.update)

    return with_tiles, resolved.scale, resolved.label


def _settings(args: argparse.Namespace, metrics: tuple[str, ...], device: str) -> EvalSettings:
    options = MetricOptions(lpips_net=args.lpips_net, lpips_version=args.lpips_version,
                            nrqm_model=args.nrqm_model, pi_shave=args.pi_shave, device=device)
    return EvalSettings(degradation=args.degradation, metrics=metrics, crop_border=args.crop_border,
                        seed=args.seed, lr_dir=args.lr_dir, save_dir=args.save_images,
                        progress=not args.no_progress, spectrum=args.spectrum is not None,
                        metric_options=options)


def run(args: argparse.Namespace) -> int:
    from attnsr.infer.memory import pick_device

    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    check_metrics(metrics)
    scales = args.scale or [None]
    if args.lr_dir is not None and (len(args.dataset) > 1 or len(scales) > 1):
        raise ConfigError("--lr-dir works with exactly one --dataset and one --scale")
    device = str(pick_device(args.device))
    settings = _settings(args, metrics, device)
    scorers = prepare_metrics(metrics, settings.metric_options)  # LPIPS loaded once per run
    results, labels = [], []
    for scale in scales:
        method, resolved_scale, label = method_for(args, scale)
        labels.append(label)
        for folder in args.dataset:
            results.append(evaluate_dataset(method, folder, resolved_scale, settings, scorers))
    name = str(args.weights) if args.weights else labels[0] if len(set(labels)) == 1 else (args.model or "default")
    title = f"{Path(name).stem if args.weights else name} {args.degradation}"
    results.sort(key=lambda r: r.scale)
    print(format_table(results, metrics, title=title))
    if args.spectrum is not None:
        print()
        print(format_spectrum_table(results, title=title))
        written = write_spectra(args.spectrum, results, Path(name).stem, plot=_have_matplotlib())
        print(f"spectrum: {len(written)} file(s) written to {args.spectrum}", file=sys.stderr)
    if args.csv:
        write_csv(args.csv, results, metrics)
    if args.json:
        write_json(args.json, results, name)
    return report_failures(results)


def _have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("spectrum: matplotlib not installed, writing CSV only (pip install 'attnsr[plot]')", file=sys.stderr)
        return False
    return True
