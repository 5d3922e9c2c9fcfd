"""``attnsr train CONFIG.yaml [--resume [CKPT]] [--set key=value ...]``: parse, then call the library."""

from __future__ import annotations

import argparse
import logging
import signal
import sys

HELP = "train a network from a YAML recipe (resumable; works under torchrun)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("config", help="YAML recipe (see configs/<network>/); a recipe with stages: runs them all")
    parser.add_argument("--resume", nargs="?", const=True, default=None, metavar="CKPT",
                        help="continue a run: from CKPT (a checkpoint folder or its state.pt), or with no "
                             "value from the latest checkpoint in the run's output_dir")
    parser.add_argument("--accept-changes", action="store_true",
                        help="resume even though settings that change the weights differ from the checkpoint's "
                             "(they are listed; the run is then no longer bitwise the original one)")
    parser.add_argument("--no-progress", action="store_true",
                        help="no progress bar (the same as --set progress=false)")
    parser.add_argument("--quiet", dest="no_progress", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set optim.lr=2e-4 --set data.batch_size=8 "
                             "(one stage of a staged recipe: --set stages.1.iterations=100)")


def run(args: argparse.Namespace) -> int:
    from attnsr.train import load_plan, train_plan

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    plan = load_plan(args.config, args.overrides + (["progress=false"] if args.no_progress else []))
    requested: list[int] = []

    def request_stop(signum: int, _frame: object) -> None:
        if requested:  # a second signal: stop now, without the checkpoint
            raise KeyboardInterrupt
        requested.append(signum)
        print(f"attnsr train: {signal.Signals(signum).name}: saving a checkpoint after this iteration "
              "(send again to abort)", file=sys.stderr)

    previous = {s: signal.signal(s, request_stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        result = train_plan(plan, resume=args.resume, should_stop=lambda: bool(requested),
                            accept_changes=args.accept_changes)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    best = f", best val PSNR {result.best_psnr:.3f} dB" if result.best_psnr is not None else ""
    if result.stopped:
        # interrupted, not finished: the shell convention 128 + signal number (130 SIGINT, 143 SIGTERM)
        signum = requested[0] if requested else signal.SIGINT
        print(f"attnsr train: stopped by {signal.Signals(signum).name} at iteration {result.iteration} of "
              f"{plan[-1].cfg.iterations}{best}; continue with --resume (checkpoint: {result.last_checkpoint})",
              file=sys.stderr)
        return 128 + int(signum)
    print(f"trained to iteration {result.iteration}{best}; last checkpoint: {result.last_checkpoint}")
    return 0
