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

from attnsr.cli.args import add_engine_arguments, add_progress_argument, engine_options, parse_outscale
from attnsr.infer.batch import BatchOptions, check_batch, upscale_batch
from attnsr.infer.output import EXTENSIONS

HELP = "upscale images with a bundled model, bicubic, or any network checkpoint"


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


def say(line: str) -> None:
    """One message line on stderr that does not break a progress bar being drawn there."""
    from tqdm import tqdm

    tqdm.write(line, file=sys.stderr)


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
    from attnsr.infer.resolve import build_engine

    engine, resolved = build_engine(args.model, args.weights, args.scale, device=args.device, threads=args.threads,
                                    chop=args.chop, options=engine_options(args))

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
