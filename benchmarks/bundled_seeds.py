"""Quality per CPU-hour of compact seed configurations: why the bundled model is what it is.

    .venv/bin/python benchmarks/bundled_seeds.py [--minutes 8] [--holdout 10] [--json FILE]

Each candidate is trained with attnsr's trainer for the same CPU budget (one thread; the cosine schedule is
sized from the candidate's measured speed so that it completes), on T91 minus ``--holdout`` images, and
scored (PSNR on Y, shave 2) on those held-out T91 images, so no benchmark image takes part in the choice.
Printed per candidate: parameters, training s/iteration, iterations reached, held-out PSNR and its gain over
bicubic, and the one-thread inference time extrapolated to a 1-megapixel input.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from attnsr.image.io import list_images  # noqa: E402
from attnsr.models import create  # noqa: E402
from attnsr.models.stats import count_params  # noqa: E402
from attnsr.train import config_from_dict, train  # noqa: E402

BATCH, LR_PATCH, LR, SCALE = 16, 32, 1e-3, 2
CANDIDATES: dict[str, tuple[str, dict]] = {
    # DeFiAN with its Hessian filtering and detail-fidelity attention, at a compact width
    "defian c32 4x4": ("defian_s", {"n_channels": 32, "n_blocks": 4, "n_modules": 4}),
    # DFSA as the paper describes it: dynamic high-pass filter per group + MMCA, on RCAN
    "dfsa c32 3x4 hpf+mmca": ("dfsa", {"n_feats": 32, "n_resgroups": 3, "n_resblocks": 4, "reduction": 8}),
    # DFSA's MMCA on RCAN, high-pass filtering off (hpf_placement none)
    "dfsa c32 3x4 mmca": ("dfsa", {"n_feats": 32, "n_resgroups": 3, "n_resblocks": 4, "reduction": 8,
                                   "hpf_placement": "none"}),
}


def seconds_per_iteration(name: str, options: dict, probe: int = 6) -> float:
    model = create(name, scale=SCALE, **options).train()
    opt = torch.optim.Adam(model.parameters(), LR)
    x, y = torch.rand(BATCH, 3, LR_PATCH, LR_PATCH), torch.rand(BATCH, 3, LR_PATCH * SCALE, LR_PATCH * SCALE)
    for i in range(probe + 2):
        if i == 2:
            start = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.l1_loss(model(x), y).backward()
        opt.step()
    return (time.perf_counter() - start) / probe


def seconds_per_megapixel(name: str, options: dict, side: int = 256) -> float:
    model = create(name, scale=SCALE, **options).eval()
    x = torch.rand(1, 3, side, side)
    with torch.inference_mode():
        model(x)
        start = time.perf_counter()
        model(x)
    return (time.perf_counter() - start) * 1e6 / (side * side)


def bicubic_psnr(val: Path) -> float:
    from attnsr.image.resize import imresize
    from attnsr.metrics import psnr
    from attnsr.train.loop import load_validation

    images = load_validation(str(val), SCALE)
    return sum(psnr(imresize(lr, SCALE), hr, crop_border=SCALE) for _, lr, hr in images) / len(images)


def split(data: Path, holdout: int, root: Path) -> tuple[Path, Path]:
    """Symlink folders: every (n // holdout)-th image held out, the rest for training."""
    files = list_images(data)
    step = max(1, len(files) // holdout)
    tr, va = root / "train", root / "val"
    tr.mkdir()
    va.mkdir()
    for i, f in enumerate(files):
        (va if i % step == 0 and i // step < holdout else tr).joinpath(f.name).symlink_to(f.resolve())
    return tr, va


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets" / "T91")
    ap.add_argument("--minutes", type=float, default=8.0, help="training budget per candidate")
    ap.add_argument("--holdout", type=int, default=10)
    ap.add_argument("--only", default="", help="comma-separated candidate names (default all)")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    torch.set_num_threads(1)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(CANDIDATES)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tr, va = split(args.data, args.holdout, Path(tmp))
        base = bicubic_psnr(va)
        print(f"held-out T91 ({args.holdout} images) bicubic x{SCALE}: {base:.3f} dB", flush=True)
        for name in names:
            net, options = CANDIDATES[name]
            spi = seconds_per_iteration(net, options)
            iterations = max(20, int(args.minutes * 60 / spi))
            cfg = config_from_dict({
                "name": "seed", "output_dir": str(Path(tmp) / name.replace(" ", "_")), "iterations": iterations,
                "threads": 1, "log_every": max(1, iterations // 10), "save_every": iterations, "progress": False,
                "model": {"name": net, "scale": SCALE, "options": options},
                "data": {"hr_dir": str(tr), "lr_patch": LR_PATCH, "batch_size": BATCH, "num_workers": 0,
                         "cache": True},
                "val": {"hr_dir": str(va), "every": iterations},
                "optim": {"name": "adam", "lr": LR, "grad_clip": 1.0}, "schedule": {"kind": "cosine", "eta_min": 1e-6},
            })
            start = time.perf_counter()
            result = train(cfg)
            wall = time.perf_counter() - start
            rec = {
                "params": count_params(create(net, scale=SCALE, **options)),
                "s_per_iteration": spi, "iterations": iterations, "train_minutes": wall / 60,
                "heldout_psnr": result.best_psnr, "gain_over_bicubic": result.best_psnr - base,
                "infer_s_per_mpix_1thread": seconds_per_megapixel(net, options),
            }
            results[name] = rec
            print(f"{name:24s} {rec['params'] / 1e3:6.1f}K params  {spi:5.2f} s/it  {iterations:5d} it in "
                  f"{rec['train_minutes']:4.1f} min  held-out {rec['heldout_psnr']:.3f} dB "
                  f"({rec['gain_over_bicubic']:+.3f} over bicubic)  "
                  f"1-MP inference {rec['infer_s_per_mpix_1thread']:.1f} s (1 thread)", flush=True)
    if args.json:
        args.json.write_text(json.dumps({"minutes": args.minutes, "bicubic": base, "candidates": results}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
