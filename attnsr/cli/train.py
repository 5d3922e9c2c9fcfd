"""``attnsr train CONFIG.yaml [--resume [CKPT]] [--set key=value ...]``: parse, then call the library."""

from __future__ import annotations

import argparse
import logging

HELP = "train a network from a YAML recipe (resumable; works under torchrun)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML recipe (see configs/<network>/)")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="CKPT",
                        help="continue a run: from CKPT (a checkpoint folder or its state.pt), or with no "
                             "value from the latest checkpoint in the run's output_dir")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set optim.lr=2e-4 --set data.batch_size=8")


def run(args: argparse.Namespace) -> int:
    from attnsr.train import load_config, train

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cfg = load_config(args.config, args.overrides)
    result = train(cfg, resume=args.resume)
    best = f", best val PSNR {result.best_psnr:.3f} dB" if result.best_psnr is not None else ""
    print(f"trained to iteration {result.iteration}{best}; last checkpoint: {result.last_checkpoint}")
    return 0
