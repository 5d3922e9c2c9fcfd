"""``attnsr prepare-h5 HR_DIR OUT.h5``: an HR folder -> FSANet's HDF5 layout (groups HR, X2, X3, X4)."""

from __future__ import annotations

import argparse

HELP = "convert an HR image folder to an HDF5 training file (groups HR/X2/X3/X4, uint8 RGB)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("hr_dir", help="folder of HR images")
    parser.add_argument("output", help="HDF5 file to write")
    parser.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4], help="LR groups to make (default 2 3 4)")
    parser.add_argument("--lr-dir", action="append", default=[], metavar="SCALE=DIR",
                        help="take X<SCALE> from existing LR files (DIV2K names NAMEx<SCALE>.png) instead of "
                             "MATLAB-bicubic downscaling, e.g. --lr-dir 2=DIV2K_train_LR_bicubic/X2")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def run(args: argparse.Namespace) -> int:
    from attnsr.data.h5 import write_h5
    from attnsr.errors import ConfigError

    from pathlib import Path

    if Path(args.output).exists() and not args.overwrite:
        raise ConfigError(f"{args.output}: exists (use --overwrite to replace it)")
    lr_dirs = {}
    for item in args.lr_dir:
        scale, sep, folder = item.partition("=")
        if not sep or not scale.isdigit():
            raise ConfigError(f"--lr-dir {item!r}: expected SCALE=DIR")
        lr_dirs[int(scale)] = folder
    count = write_h5(args.hr_dir, args.output, scales=tuple(args.scales), lr_dirs=lr_dirs)
    print(f"wrote {count} images to {args.output} (groups HR, {', '.join(f'X{s}' for s in args.scales)}; RGB)")
    return 0
