"""``attnsr assets``: install or list the user-cache assets (the LPIPS weights)."""

from __future__ import annotations

import argparse
from pathlib import Path

from attnsr import assets

HELP = "Install or list downloadable assets (LPIPS weights) in the user cache."

#: asset name -> installer taking the cache folder (None = default) and returning the written files
INSTALLERS = {"lpips": assets.install_lpips}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=("install", "list"), help="install an asset, or list what is installed")
    parser.add_argument("name", nargs="?", choices=sorted(INSTALLERS), help="asset to install")
    parser.add_argument("--cache", type=Path, default=None,
                        help="cache folder (default $XDG_CACHE_HOME/attnsr, else ~/.cache/attnsr)")
    parser.add_argument("--force", action="store_true", help="download and replace even verified installed files")


def run(args: argparse.Namespace) -> int:
    if args.action == "list":
        for net in assets.LPIPS_NETS:
            path = assets.lpips_path(net, args.cache)
            print(f"lpips-{net}: {'installed' if path.is_file() else 'missing'} ({path})")
        return 0
    if args.name is None:
        print(f"attnsr assets install: name one of {', '.join(sorted(INSTALLERS))}")
        return 2
    import sys

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    for path in INSTALLERS[args.name](args.cache, force=args.force, log=log):
        print(f"installed {path}")
    return 0
