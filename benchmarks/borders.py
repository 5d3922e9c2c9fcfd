"""PSNR/SSIM with and without the engine's mirror padding at the borders (``--border mirror|none``).

Both runs use the same model, LR (MATLAB bicubic, uint8) and protocol as ``attnsr eval`` (Y channel,
``scale`` pixels cropped at the borders unless ``--crop-border``), whole images; only the border handling
differs. Also prints the largest corner error of a flat image and the output of a 1x1 image.

Usage: python benchmarks/borders.py [--model default] [--scale 2]
           --datasets ../shared/datasets/Set5 ../shared/datasets/Set14
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch

from attnsr.evaluation import EvalSettings, evaluate_dataset
from attnsr.infer.engine import Upscaler
from attnsr.infer.resolve import resolve_model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--weights", default=None)
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--datasets", nargs="+", type=Path, required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--crop-border", type=int, default=None, help="pixels left out of the scores (default: scale)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    resolved = resolve_model(args.model, args.weights, args.scale)
    engines = {b: Upscaler(resolved.model, scale=resolved.scale, device="cpu", tile=0, border=b)
               for b in ("none", "mirror")}
    settings = EvalSettings(metrics=("psnr", "ssim"), progress=False, crop_border=args.crop_border)
    crop = resolved.scale if args.crop_border is None else args.crop_border
    print(f"{resolved.label}, x{resolved.scale}, Y channel, crop {crop}; torch {torch.__version__}, "
          f"{args.threads} thread(s)")
    print("| dataset | PSNR none | PSNR mirror | delta dB | SSIM none | SSIM mirror | time mirror/none |")
    print("|---|---|---|---|---|---|---|")
    for folder in args.datasets:
        rows, seconds = {}, {}
        for border, engine in engines.items():
            t0 = time.perf_counter()
            rows[border] = evaluate_dataset(lambda lr, e=engine: e.upscale_tensor(lr), folder, resolved.scale,
                                            settings)
            seconds[border] = time.perf_counter() - t0
        a, b = rows["none"].means, rows["mirror"].means
        print(f"| {rows['none'].dataset} | {a['psnr_y']:.3f} | {b['psnr_y']:.3f} | {b['psnr_y'] - a['psnr_y']:+.3f} | "
              f"{a['ssim_y']:.4f} | {b['ssim_y']:.4f} | {seconds['mirror'] / seconds['none']:.2f}x |")
    flat = np.full((32, 32, 3), (120, 80, 200), np.uint8)
    one = np.array([[[200, 30, 60]]], np.uint8)
    for border, engine in engines.items():
        dev = np.abs(engine.upscale_array(flat).astype(int) - [120, 80, 200]).max()
        px = engine.upscale_array(one).reshape(-1, 3)
        print(f"border {border}: flat 32x32 max error {dev} levels; 1x1 (200,30,60) -> "
              f"{tuple(int(v) for v in px.min(0))}..{tuple(int(v) for v in px.max(0))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
