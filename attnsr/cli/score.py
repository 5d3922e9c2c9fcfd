"""``attnsr score --sr DIR --hr DIR``: score existing SR images (another method's released outputs)
against HR with ``attnsr eval``'s protocol, table, CSV and JSON (argument parsing only; the work is in
:mod:`attnsr.scoring`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from attnsr.cli.report import report_failures
from attnsr.evaluation import METRICS, EvalSettings, MetricOptions, check_metrics, format_table, prepare_metrics

HELP = "Score existing SR images against HR (same protocol and reports as eval; files matched by name)."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sr", required=True, type=Path, metavar="DIR", help="folder of SR images to score")
    parser.add_argument("--hr", required=True, type=Path, metavar="DIR", help="folder of HR (ground-truth) images")
    parser.add_argument("--scale", type=int, default=None, metavar="S",
                        help="the SR factor (modcrop and border shave; default: read from names like _x4)")
    parser.add_argument("--suffix", default="", help="extra text after the HR name in SR file names "
                                                     "(e.g. _EDSR); _x4, _SR, _rlt, _out are known already")
    parser.add_argument("--modcrop-sr", action="store_true",
                        help="crop an SR that has the un-cropped HR size to the modcropped size")
    parser.add_argument("--metrics", default="psnr,ssim",
                        help=f"comma-separated, from: {', '.join(METRICS)} (default: psnr,ssim)")
    parser.add_argument("--crop-border", type=int, default=None, help="border shave (default: the scale)")
    parser.add_argument("--lpips-net", default="alex", choices=("alex", "vgg"), help="LPIPS backbone")
    parser.add_argument("--lpips-version", default="0.1", choices=("0.1", "0.0"), help="LPIPS heads")
    parser.add_argument("--nrqm-model", type=Path, default=None, metavar="FILE",
                        help="Ma et al.'s NRQM model file, needed for PI")
    parser.add_argument("--pi-shave", type=int, default=4, choices=(4, 0), help="border removed before PI")
    parser.add_argument("--device", default="auto", help="device for LPIPS: auto, cpu, cuda, cuda:N")
    parser.add_argument("--label", default=None, help="method name in the table and JSON (default: SR folder)")
    parser.add_argument("--json", type=Path, default=None, metavar="FILE", help="write results as JSON")
    parser.add_argument("--csv", type=Path, default=None, metavar="FILE", help="write per-image CSV")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--quiet", dest="no_progress", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from attnsr.evaluation import write_csv, write_json
    from attnsr.infer.memory import pick_device
    from attnsr.scoring import score_folder

    metrics = tuple(m.strip() for m in args.metrics.split(",") if m.strip())
    check_metrics(metrics)
    options = MetricOptions(lpips_net=args.lpips_net, lpips_version=args.lpips_version,
                            nrqm_model=args.nrqm_model, pi_shave=args.pi_shave, device=str(pick_device(args.device)))
    settings = EvalSettings(metrics=metrics, crop_border=args.crop_border, progress=not args.no_progress,
                            metric_options=options)
    result = score_folder(args.sr, args.hr, args.scale, settings, prepare_metrics(metrics, options),
                          suffix=args.suffix, modcrop_sr=args.modcrop_sr)
    label = args.label or args.sr.resolve().name
    print(format_table([result], metrics, title=label))
    if args.csv:
        write_csv(args.csv, [result], metrics)
    if args.json:
        write_json(args.json, [result], label)
    return report_failures([result])
