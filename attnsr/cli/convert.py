"""``attnsr convert OFFICIAL.pth -o model.safetensors``: official checkpoint -> our format."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "convert an official checkpoint to attnsr's safetensors format (with arch/scale/config metadata)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", type=Path, help="official .pt/.pth/.pth.tar/.safetensors file")
    p.add_argument("-o", "--output", type=Path, required=True, help="output .safetensors file")
    p.add_argument("--model", "--arch", dest="arch", default=None,
                   help="registry network name, when the keys cannot tell it (--arch: older spelling)")
    p.add_argument("--scale", type=int, default=None, help="scale when it cannot be inferred")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")


def run(args: argparse.Namespace) -> int:
    from attnsr.models import from_official, save_model
    from attnsr.models.stats import count_params

    from attnsr.errors import ConfigError

    if args.output.exists() and not args.overwrite:
        raise ConfigError(f"{args.output}: exists (use --overwrite to replace it)")
    if args.output.resolve() == args.checkpoint.resolve():
        raise ConfigError(f"{args.output}: is the input checkpoint; write the conversion elsewhere")
    model = from_official(args.checkpoint, arch=args.arch, scale=args.scale)
    save_model(model, args.output, extra={"source": args.checkpoint.name})
    cfg = model.attnsr_config
    print(f"{args.output}: {model.attnsr_name} x{getattr(cfg, 'scale', '?')}, {count_params(model):,} parameters")
    return 0
