"""How attnsr's metric defaults differ from pyiqa's (IQA-PyTorch), measured with attnsr's own code.

pyiqa is not installed (it needs torchvision); its defaults were read from its source
(chaofengc/IQA-PyTorch, ``pyiqa/default_model_configs.py``, ``archs/{psnr,ssim,niqe,lpips,nrqm}_arch.py``,
``utils/color_util.py``) and are re-computed here with attnsr's functions on the alternative inputs:

* ``psnr``  (pyiqa): RGB, no border crop, float [0, 1], MSE + 1e-8;
* ``psnry`` (pyiqa): Y of YIQ (0.299 R + 0.587 G + 0.114 B, full range, not rounded), no crop;
* ``ssim``  (pyiqa): Y of YIQ ×255 rounded, no crop, negative contrast-structure terms clipped to 0;
* ``ssimc`` (pyiqa): RGB, no crop, the same clip;
* ``niqe``  (pyiqa): Y of YIQ ×255 rounded, no crop (attnsr: BT.601 Y, MATLAB's ``niqe``: rgb2gray;
  ``attnsr eval`` also shaves the scale, shown as "border");
* ``lpips`` (pyiqa): AlexNet, v0.1, [0, 1] inputs mapped to [-1, 1] — the same as attnsr's default;
  the script also shows what a wrong normalisation (un-mapped [0, 1] input) and VGG give.

attnsr's side is the SR protocol (``attnsr eval``): BT.601 Y (16-235, unrounded), border = scale, a gray
file scored on its one channel; "0-brd" columns: the same without the shave, separating the shave from the
colour conversion. NIQE columns score the HR images.
Images: Set14 HR, modcrop to the scale; SR = MATLAB-bicubic upscale of the MATLAB-bicubic LR.

Usage: python scripts/pyiqa_defaults.py [--set DIR] [--scale 4] [--no-lpips]
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
import torch

from attnsr.image.io import load_image
from attnsr.image.resize import imresize, modcrop
from attnsr.metrics.niqe import niqe
from attnsr.metrics.psnr import psnr
from attnsr.metrics.ssim import K1, K2, filter_valid, gaussian_window_1d, ssim

#: pyiqa's rgb2yiq Y row (utils/color_util.py)
YIQ_Y = np.array([0.299, 0.587, 0.114])


def yiq_y(rgb8: np.ndarray, scale: float = 1.0, rounded: bool = False) -> np.ndarray:
    """(H, W, 3) uint8 -> Y of YIQ on [0, scale], float64 (rounded like pyiqa when it works on 0-255)."""
    y = (rgb8.astype(np.float64) / 255.0) @ YIQ_Y * scale
    return np.round(y) if rounded else y


def psnr_float(a: np.ndarray, b: np.ndarray) -> float:
    """pyiqa's psnr on data range 1: 10 log10(1 / (MSE + 1e-8))."""
    return 10 * math.log10(1.0 / (float(np.mean((a - b) ** 2)) + 1e-8))


def ssim_clipped(a: np.ndarray, b: np.ndarray) -> float:
    """SSIM on the 0-255 scale with pyiqa's relu on the contrast-structure map, mean over (H, W, C)."""
    g = gaussian_window_1d()
    c1, c2 = (K1 * 255) ** 2, (K2 * 255) ** 2
    maps = []
    for c in range(a.shape[-1]):
        x, y = a[..., c], b[..., c]
        mx, my = filter_valid(x, g), filter_valid(y, g)
        sxx, syy = filter_valid(x * x, g) - mx**2, filter_valid(y * y, g) - my**2
        sxy = filter_valid(x * y, g) - mx * my
        cs = np.maximum((2 * sxy + c2) / (sxx + syy + c2), 0)
        maps.append((2 * mx * my + c1) / (mx**2 + my**2 + c1) * cs)
    return float(np.mean(maps))


def pair(path: Path, scale: int) -> tuple[np.ndarray, np.ndarray, bool]:
    """(SR, HR, gray): uint8 RGB (H, W, 3), HR modcropped, SR = bicubic x scale of the bicubic LR; a gray
    file is repeated to RGB (pyiqa loads every image as RGB)."""
    hr = modcrop(load_image(path).as_array(), scale)
    gray = hr.ndim == 2
    if gray:
        hr = np.repeat(hr[..., None], 3, axis=2)
    hr = np.ascontiguousarray(hr[..., :3])
    return imresize(imresize(hr, 1 / scale), float(scale)), hr, gray


def tensor(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(a).permute(2, 0, 1).float().div(255).unsqueeze(0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared/datasets/Set14")
    ap.add_argument("--scale", type=int, default=4)
    ap.add_argument("--no-lpips", action="store_true", help="skip LPIPS (needs `attnsr assets install lpips`)")
    args = ap.parse_args(argv)
    s = args.scale
    files = sorted(args.set.glob("*.png"))
    if not files:
        print(f"{args.set}: no PNG images", file=sys.stderr)
        return 2
    lp = {}
    if not args.no_lpips:
        from attnsr.metrics.lpips import LPIPSConfig, load_lpips_model

        lp = {n: load_lpips_model(LPIPSConfig(net=n)) for n in ("alex", "vgg")}
    rows = []
    print(f"{args.set.name}, x{s} bicubic SR (MATLAB imresize both ways); attnsr = BT.601 Y, border {s}")
    print("columns: attnsr's default, the same without the border shave (0-brd), pyiqa's settings (p:...)")
    print(f"{'image':<11} {'PSNR':>7} {'0-brd':>7} {'p:psnr':>7} {'p:psnry':>7} | {'SSIM':>6} {'0-brd':>6} "
          f"{'p:ssim':>6} {'p:ssimc':>6} | {'NIQE HR':>7} {'p:YIQ':>6} {'gray':>6} {'border':>6}"
          + (" | LPIPS  un-norm  vgg" if lp else ""))
    for f in files:
        sr, hr, gray = pair(f, s)
        ours = (sr[..., :1], hr[..., :1]) if gray else (sr, hr)  # attnsr eval: a gray file on its channel
        r = {
            "psnr": psnr(*ours, crop_border=s),
            "psnr_border0": psnr(*ours, crop_border=0),
            "psnr_pyiqa": psnr_float(sr / 255.0, hr / 255.0),
            "psnry_pyiqa": psnr_float(yiq_y(sr), yiq_y(hr)),
            "ssim": ssim(*ours, crop_border=s),
            "ssim_border0": ssim(*ours, crop_border=0),
            "ssim_pyiqa": ssim_clipped(yiq_y(sr, 255, True)[..., None], yiq_y(hr, 255, True)[..., None]),
            "ssimc_pyiqa": ssim_clipped(sr.astype(np.float64), hr.astype(np.float64)),
            "ssim_rgb_border0": ssim(sr, hr, crop_border=0, test_y=False),  # attnsr's ssim_rgb, no shave
            "psnr_rgb_border0": psnr(sr, hr, crop_border=0, test_y=False),
            "niqe": float(niqe(tensor(ours[1]))[0]),
            "niqe_yiq": float(niqe(torch.from_numpy(yiq_y(hr, 255, True) / 255)[None, None])[0]),
            "niqe_gray": float(niqe(tensor(hr), convert_to="gray")[0]),
            "niqe_border": float(niqe(tensor(ours[1]), crop_border=s)[0]),
        }
        line = (f"{f.stem:<11} {r['psnr']:7.3f} {r['psnr_border0']:7.3f} {r['psnr_pyiqa']:7.3f} "
                f"{r['psnry_pyiqa']:7.3f} | {r['ssim']:.4f} {r['ssim_border0']:.4f} "
                f"{r['ssim_pyiqa']:.4f} {r['ssimc_pyiqa']:.4f} | {r['niqe']:7.4f} {r['niqe_yiq']:6.4f} "
                f"{r['niqe_gray']:6.4f} {r['niqe_border']:6.4f}")
        if lp:
            with torch.no_grad():
                a, b = tensor(sr), tensor(hr)
                r["lpips"] = float(lp["alex"](a, b)[0])
                r["lpips_unnormalised"] = float(lp["alex"]((a + 1) / 2, (b + 1) / 2)[0])  # net sees [0, 1]
                r["lpips_vgg"] = float(lp["vgg"](a, b)[0])
            line += f" | {r['lpips']:.4f} {r['lpips_unnormalised']:.4f} {r['lpips_vgg']:.4f}"
        rows.append(r)
        print(line, flush=True)

    def stat(key: str, ref: str) -> str:
        d = np.array([r[key] - r[ref] for r in rows])
        return f"mean {d.mean():+.4f}, range {d.min():+.4f} .. {d.max():+.4f} (max |d| {np.abs(d).max():.1e})"

    print("\nmean over the set: " + ", ".join(f"{k} {np.mean([r[k] for r in rows]):.4f}" for k in rows[0]))
    print("differences per image (first minus second; 'border0': attnsr's setting without the border shave):")
    for key, ref in (("psnr_border0", "psnr"), ("psnr_pyiqa", "psnr"), ("psnry_pyiqa", "psnr"),
                     ("psnry_pyiqa", "psnr_border0"), ("ssim_border0", "ssim"), ("ssim_pyiqa", "ssim"),
                     ("ssim_pyiqa", "ssim_border0"), ("ssimc_pyiqa", "ssim"), ("ssimc_pyiqa", "ssim_rgb_border0"),
                     ("psnr_pyiqa", "psnr_rgb_border0"), ("niqe_yiq", "niqe"), ("niqe_gray", "niqe"),
                     ("niqe_border", "niqe")):
        print(f"  {key:<18} vs {ref:<12} {stat(key, ref)}")
    if lp:
        for key in ("lpips_unnormalised", "lpips_vgg"):
            print(f"  {key:<18} vs {'lpips':<12} {stat(key, 'lpips')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
