"""``attnsr inspect --model defian|hspan|dfsa|fsanet IMAGE -o DIR``: save the networks' internal maps
(Hessian responses and attention, attention sparsity, high-pass outputs, frequency branches) as PNGs
with an ``index.json`` saying what each file shows. The work is in :mod:`attnsr.infer.inspect`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from attnsr.errors import ConfigError

HELP = "save the internal maps of DeFiAN, HSPAN, DFSA or FSANet for an image as PNGs"


def add_arguments(p: argparse.ArgumentParser) -> None:
    from attnsr.infer.inspect import families

    table = families()
    names = sorted({*table, *(n for ns in table.values() for n in ns)})
    p.add_argument("image", type=Path, metavar="IMAGE", help="input image (fed to the network as the LR image)")
    p.add_argument("--model", required=True, choices=names, help="network family or registry name")
    p.add_argument("--weights", type=Path, default=None,
                   help="official or attnsr checkpoint (without it: random weights, for debugging only)")
    p.add_argument("--scale", type=int, default=None, help="scale of a random-weight network (default 2)")
    p.add_argument("-o", "--output", type=Path, required=True, metavar="DIR", help="folder for the PNGs")
    p.add_argument("--max-size", type=int, default=128,
                   help="centre-crop larger inputs to this many pixels per side (HSPAN attention is "
                        "quadratic in the pixel count; default 128, 0 = no limit)")
    p.add_argument("--device", default="cpu", help="torch device (default: cpu)")


def load_network(model: str, weights: Path | None, scale: int | None) -> torch.nn.Module:
    """The named network from ``weights`` (checked to be of the named family), or random weights with a
    warning on stderr."""
    from attnsr.infer.inspect import families, family_of
    from attnsr.models import create, from_official

    table = families()
    family = model if model in table else next(f for f, ns in table.items() if model in ns)
    if weights is not None:
        net = from_official(weights, arch=None if model in table else model, scale=scale)
        if family_of(net) != family:
            raise ConfigError(f"{weights}: holds a {net.attnsr_name} network, not {model}")
        return net
    name = table[family][0] if model in table else model
    print(f"attnsr inspect: warning: no --weights, so {name} has RANDOM weights: the maps show the "
          "architecture's plumbing (debugging), not what a trained network attends to", file=sys.stderr)
    return create(name, scale=scale or 2)


def centre_crop(img: torch.Tensor, size: int) -> torch.Tensor:
    """(C, H, W) -> the central min(H, size) x min(W, size) window (size 0 = unchanged)."""
    if size <= 0:
        return img
    h, w = img.shape[-2:]
    top, left = max(0, (h - size) // 2), max(0, (w - size) // 2)
    return img[:, top:top + min(h, size), left:left + min(w, size)]


def _print_sparsity(maps: list) -> None:
    for m in maps:
        if "histogram" in m.stats:
            s = m.stats
            hist = ", ".join(f"{k}: {v}" for k, v in s["histogram"].items())
            print(f"{m.name}: kept positions per query of {s['positions']}: min {s['min']}, median "
                  f"{s['median']:.0f}, mean {s['mean']:.1f}, max {s['max']}; histogram {{{hist}}}")


def run(args: argparse.Namespace) -> int:
    from attnsr.image.io import load_image, save_image
    from attnsr.infer.inspect import extract_maps, save_maps
    from attnsr.infer.memory import pick_device

    args.device = pick_device(args.device)
    net = load_network(args.model, args.weights, args.scale).to(args.device)
    full = load_image(args.image).rgb
    lr = centre_crop(full, args.max_size)
    if lr.shape != full.shape:
        print(f"attnsr inspect: note: {args.image} centre-cropped from {tuple(full.shape[-2:])} to "
              f"{tuple(lr.shape[-2:])} (--max-size)", file=sys.stderr)
    sr, maps = extract_maps(net, lr[None].to(args.device))
    save_image(args.output / "input.png", lr)
    save_image(args.output / "output.png", sr[0].float().cpu())
    index = save_maps(args.output, maps, meta={
        "network": getattr(net, "attnsr_name"), "scale": int(getattr(net, "attnsr_config").scale),
        "image": str(args.image),
        "input_size": list(lr.shape[-2:]), "random_weights": args.weights is None,
        "inputs": {"input.png": "the network input", "output.png": "the network output (SR)"}})
    _print_sparsity(maps)
    print(f"{len(maps)} map(s) written to {args.output} (see {index.name})", file=sys.stderr)
    return 0
