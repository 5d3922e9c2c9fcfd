"""Argument definitions shared by several subcommands, and their reading into typed options.

Subcommand modules import from here, never from each other (tests/cli/test_cli_layout.py checks it).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from attnsr.errors import ConfigError
from attnsr.infer.output import check_outscale

if TYPE_CHECKING:
    from attnsr.infer.engine import EngineOptions

MODEL_HELP = ("'default' (bundled, the default), another bundled model, 'bicubic', or a registry network name "
              "together with --weights")


def add_engine_arguments(p: argparse.ArgumentParser, *, model_help: str | None = MODEL_HELP,
                         tile_default: str = "auto", precision_default: str = "auto",
                         border_default: str = "mirror") -> None:
    """Model and engine options shared by ``upscale``, ``eval`` and ``compare``. ``model_help=None``
    leaves out --model/--weights (for commands that name several models their own way)."""
    if model_help is not None:
        p.add_argument("--model", default=None, help=model_help)
        p.add_argument("--weights", type=Path, default=None, help="official or attnsr checkpoint file")
    p.add_argument("--tile", default=tile_default,
                   help=f"LR tile edge in pixels, 'auto' (from free memory) or 0 (whole image); default {tile_default}")
    p.add_argument("--tile-overlap", type=int, default=16, help="LR context pixels around each tile")
    p.add_argument("--border", default=border_default, choices=("mirror", "none"),
                   help="mirror: mirror the image outward before the network and crop after, so borders "
                        f"look like the inside; none: the plain network (papers' protocol); default {border_default}")
    p.add_argument("--self-ensemble", action="store_true", help="x8 flips/rotations average (papers' '+')")
    p.add_argument("--chop", action="store_true",
                   help="use the network's official chopped forward (HSPAN, FSANet) instead of tiling")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:1, ...")
    p.add_argument("--precision", default=precision_default, choices=("auto", "fp32", "fp16", "bf16"),
                   help="autocast precision; auto: fp16 on CUDA where the model supports it (see attnsr "
                        f"models), else fp32; fp16 is CUDA only (default {precision_default})")
    p.add_argument("--fp32", action="store_true", help="same as --precision fp32 (full precision on CUDA too)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (slow start, faster runs)")
    p.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="NHWC memory format (default: chosen per device and network)")
    p.add_argument("--threads", type=int, default=0,
                   help="CPU threads for torch (default 0: the cores not kept busy by other processes, "
                        "at least 1; see attnsr/threads.py)")


def add_progress_argument(p: argparse.ArgumentParser) -> None:
    """``--no-progress``: the one spelling, on every command that draws progress bars (``--quiet`` is
    accepted as an alias; training recipes say ``progress: false``)."""
    p.add_argument("--no-progress", dest="quiet", action="store_true", help="no progress bars")
    p.add_argument("--quiet", dest="quiet", action="store_true", help=argparse.SUPPRESS)


def parse_tile(text: str) -> int | None:
    if text == "auto":
        return None
    try:
        value = int(text)
    except ValueError as exc:
        raise ConfigError(f"--tile: expected 'auto' or a number of pixels, got {text!r}") from exc
    if value < 0 or 0 < value < 8:
        raise ConfigError(f"--tile: use 0 (whole image) or at least 8 pixels, got {value}")
    return value


def parse_outscale(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError as exc:
        raise ConfigError(f"--outscale: expected a positive output factor such as 3.5, got {text!r}") from exc
    return check_outscale(value)


def precision_from_args(args: argparse.Namespace) -> str:
    """--precision, with --fp32 as its short form (both naming different precisions is an error)."""
    if getattr(args, "fp32", False):
        if args.precision not in ("auto", "fp32"):
            raise ConfigError(f"--fp32 and --precision {args.precision} exclude each other")
        return "fp32"
    return args.precision


def engine_options(args: argparse.Namespace) -> EngineOptions:
    """The engine options that the shared command-line flags name."""
    from attnsr.infer.engine import EngineOptions

    return EngineOptions(tile=parse_tile(args.tile), overlap=args.tile_overlap, self_ensemble=args.self_ensemble,
                         precision=precision_from_args(args), compile=args.compile,
                         channels_last=args.channels_last, border=args.border)
