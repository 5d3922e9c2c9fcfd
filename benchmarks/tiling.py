"""How far tiled upscaling departs from the whole-image forward, for networks with global operations.

Convolutional networks are tile-invariant once the overlap covers their receptive field (tested in
tests/infer/test_tiling_models.py). Global average pooling (channel attention: DeFiAN, RCAN, DFSA,
FSANet) and global attention (HSPAN) see only the tile, so their tiled output differs. This script
measures the difference on real images, in 8-bit levels (1 level = 1/255), and the PSNR change.

Usage: python benchmarks/tiling.py --model default --scale 2 --images ../shared/datasets/Set14 [--tile 64]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from attnsr.image.degrade import degrade, quantize_uint8
from attnsr.image.io import read_rgb
from attnsr.image.resize import modcrop
from attnsr.infer.engine import Upscaler
from attnsr.infer.resolve import resolve_model
from attnsr.metrics import psnr


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--images", type=Path, required=True, help="folder of HR images")
    ap.add_argument("--tile", type=int, nargs="+", default=[48, 96])
    ap.add_argument("--overlap", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    resolved = resolve_model(args.model, args.weights, args.scale)
    whole = Upscaler(resolved.model, scale=resolved.scale, device="cpu", tile=0)
    tiled = {t: Upscaler(resolved.model, scale=resolved.scale, device="cpu", tile=t, overlap=args.overlap)
             for t in args.tile}
    print(f"{resolved.label} x{resolved.scale}, overlap {args.overlap}: max / mean |tiled - whole| in 8-bit levels, "
          "and PSNR(tiled) - PSNR(whole) in dB")
    print(f"{'image':<14}" + "".join(f"{'tile ' + str(t):>28}" for t in args.tile))
    worst = {t: 0.0 for t in args.tile}
    for path in sorted(args.images.glob("*.png")):
        hr = modcrop(read_rgb(path), resolved.scale)
        lr = degrade(hr, resolved.scale, "BI").unsqueeze(0)
        ref = quantize_uint8(whole.upscale_tensor(lr))
        cells = []
        for t, engine in tiled.items():
            out = quantize_uint8(engine.upscale_tensor(lr))
            diff = (out - ref).abs() * 255
            gain = psnr(out[0], hr, crop_border=resolved.scale) - psnr(ref[0], hr, crop_border=resolved.scale)
            worst[t] = max(worst[t], diff.max().item())
            cells.append(f"{diff.max().item():8.0f} / {diff.mean().item():6.4f} / {gain:+.4f}")
        print(f"{path.stem:<14}" + "".join(f"{c:>28}" for c in cells), flush=True)
    print("worst max difference: " + ", ".join(f"tile {t}: {v:.0f} levels" for t, v in worst.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
