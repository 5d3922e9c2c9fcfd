"""Forward time of HSPAN (official size, random weights) per window size: how its cost grows with the
pixels of one tile, against its FLOP count. Gives the engine's QUADRATIC_TIME_WEIGHT and checks the
automatic tile of a large image against whole-image and fixed tiles.

Usage: python benchmarks/hspan_tiles.py [--sizes 64,96,128] [--threads 1] [--image 288]
"""

from __future__ import annotations

import argparse
import time

import torch

from attnsr.infer.engine import Upscaler, fit_cost
from attnsr.models import create


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="64,96,128")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--image", type=int, default=0, help="also upscale an NxN image: automatic tile vs the whole image")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = create("hspan", scale=2).eval()
    c1, c2 = fit_cost(net)
    print(f"FLOPs per forward of P pixels: {c1:.4g} * P + {c2:.4g} * P^2 (counted at 12 and 24 px)")
    times = {}
    for s in (int(v) for v in args.sizes.split(",")):
        x = torch.rand(1, 3, s, s)
        with torch.inference_mode():
            t0 = time.perf_counter()
            net(x)
            times[s] = time.perf_counter() - t0
        p = s * s
        flop = (c1 * p + c2 * p * p) / 1e9
        print(f"{s}x{s}: {times[s]:.2f} s, {times[s] / p * 1e6:.1f} us/px, FLOP model {flop:.1f} G")
    (s1, t1), (s2, t2) = sorted(times.items())[-2:]
    p1, p2 = s1 * s1, s2 * s2
    # time = a*P + b*P^2 through the two largest sizes
    b = (t2 / p2 - t1 / p1) / (p2 - p1)
    a = t1 / p1 - b * p1
    print(f"time per forward: {a:.4g} s * P + {b:.4g} s * P^2; quadratic time weight vs FLOPs "
          f"(b/a)/(c2/c1) = {(b / a) / (c2 / c1):.1f}")
    if args.image:
        img = torch.rand(1, 3, args.image, args.image)
        up = Upscaler(net, scale=2, device="cpu", fold=False, border="none")
        print(f"{args.image}x{args.image}: automatic tile {up.tile_size(args.image, args.image)}")
        for tile in (None, 0):
            u = Upscaler(net, scale=2, device="cpu", tile=tile, fold=False, border="none")
            t0 = time.perf_counter()
            u.upscale_tensor(img)
            print(f"  tile {'auto' if tile is None else 'whole'}: {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
