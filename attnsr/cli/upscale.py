"""``attnsr upscale INPUT... -o OUT``: upscale files, folders and globs with any model.

Grayscale, alpha (bicubic-upscaled) and 16-bit depth are kept; large images are tiled; a bad file gets
one error line and the others are still processed; outputs are written atomically.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from attnsr.errors import ConfigError
from attnsr.infer.batch import BatchOptions, check_batch, upscale_batch
from attnsr.infer.output import EXTENSIONS, check_outscale

if TYPE_CHECKING:
    from attnsr.infer.engine import EngineOptions, Upscaler
    from attnsr.infer.resolve import Resolved

HELP = "upscale images with a bundled model, bicubic, or any network checkpoint"

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


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders or glob patterns")
    p.add_argument("-o", "--output", type=Path, default=None,
                   help="output folder, or an output file when there is a single input "
                        "(default: beside each input, as <name>_x<scale>.<ext>)")
    p.add_argument("--scale", type=int, default=None, help="upscaling factor (default: the model's, or 2)")
    add_engine_arguments(p)
    p.add_argument("--outscale", default=None, metavar="F",
                   help="output factor (any, e.g. 3.5): the model runs at its scale, then MATLAB bicubic "
                        "resizes to round(F*H) x round(F*W) (default: the model's scale)")
    p.add_argument("--suffix", default=None, metavar="S",
                   help="output name <name>_<S>.<ext> ('' for <name>.<ext>; default x<scale>)")
    p.add_argument("--ext", "--format", dest="ext", default="auto", metavar="|".join(EXTENSIONS),
                   help="output format; auto (default) keeps the input's (PNG for formats not written)")
    p.add_argument("--quality", type=int, default=95, help="JPEG/WebP quality")
    p.add_argument("--png-compression", type=int, default=1, choices=range(10), metavar="0-9",
                   help="zlib level of PNG outputs (lossless at any level; default 1: fastest to write, "
                        "files ~10%% larger than level 6)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--skip-existing", action="store_true", help="leave existing outputs and skip their inputs")
    p.add_argument("--compare", action="store_true",
                   help="also write <name>_compare.png: bicubic | model, side by side")
    p.add_argument("--max-pixels", type=int, default=200_000_000,
                   help="refuse inputs with more pixels, in every format (decompression bombs; default 200 MP)")
    add_progress_argument(p)


def add_progress_argument(p: argparse.ArgumentParser) -> None:
    """``--no-progress``: the one spelling, on every command that draws progress bars (``--quiet`` is
    accepted as an alias; training recipes say ``progress: false``)."""
    p.add_argument("--no-progress", dest="quiet", action="store_true", help="no progress bars")
    p.add_argument("--quiet", dest="quiet", action="store_true", help=argparse.SUPPRESS)


def say(line: str) -> None:
    """One message line on stderr that does not break a progress bar being drawn there."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


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


def build_upscaler(args: argparse.Namespace, scale: int | None) -> tuple[Upscaler, Resolved]:
    """The engine configured from the shared command-line options."""
    from attnsr.infer.resolve import build_engine

    return build_engine(args.model, args.weights, scale, device=args.device, threads=args.threads,
                        chop=args.chop, options=engine_options(args))


def batch_options(args: argparse.Namespace) -> BatchOptions:
    """The batch options that ``attnsr upscale``'s flags name."""
    return BatchOptions(output=args.output, suffix=args.suffix, ext=args.ext, outscale=parse_outscale(args.outscale),
                        quality=args.quality, png_compression=args.png_compression, overwrite=args.overwrite,
                        skip_existing=args.skip_existing, compare=args.compare, max_pixels=args.max_pixels)


@contextmanager
def _tqdm_bar(*, total: int | None, desc: str, unit: str, leave: bool,
              hidden: bool, quiet: bool = False) -> Iterator[Callable[[int], object]]:
    from tqdm import tqdm

    with tqdm(total=total, desc=desc, unit=unit, leave=leave, file=sys.stderr, disable=quiet or hidden) as bar:
        yield bar.update


def run(args: argparse.Namespace) -> int:
    options = batch_options(args)
    check_batch(args.inputs, options)  # a bad option or -o fails before the model is loaded
    engine, resolved = build_upscaler(args, args.scale)

    def message(level: str, text: str) -> None:
        if level != "info":
            say(f"attnsr upscale: {level}: {text}")
        elif not args.quiet:
            say(text)

    result = upscale_batch(engine, args.inputs, options, label=resolved.label, on_message=message,
                           progress=partial(_tqdm_bar, quiet=args.quiet))
    done, skipped = len(result.written), len(result.skipped)
    if result.failures:
        print(f"attnsr upscale: {len(result.failures)} of {result.total} input(s) failed; {done} written, "
              f"{skipped} skipped",
              file=sys.stderr)
        return 1
    where = args.output if args.output is not None else "beside the inputs"
    print(f"{done} image(s) written to {where}" + (f", {skipped} skipped" if skipped else ""), file=sys.stderr)
    return 0
