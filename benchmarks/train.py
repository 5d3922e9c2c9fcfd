"""Train a small model on T91 on this CPU within a time budget; report Set5 PSNR vs bicubic, it/s, and the
throughput ratio of attnsr's trainer against a plain hand-written PyTorch loop (same model and batch).

    .venv/bin/python benchmarks/train.py [--data ../shared/datasets/T91] [--val ../shared/datasets/Set5]
                                         [--minutes 8] [--threads 1]

Steps: (1) time the plain loop (model, Adam, L1 on random crops of pre-degraded images held in memory) for
a few dozen iterations (again after training; the mean of the two is the reference); (2) pick the iteration
count that fits the budget at that speed; (3) run
``attnsr.train.train`` for that many iterations (validation only at the end); (4) compare.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from attnsr.models import create  # noqa: E402
from attnsr.train import config_from_dict, train  # noqa: E402

MODEL = {"name": "rcan", "scale": 2, "options": {"n_resgroups": 2, "n_resblocks": 2, "n_feats": 32, "reduction": 8}}
BATCH, LR_PATCH, LR = 16, 24, 1e-3


def plain_loop_speed(data: Path, iterations: int, seed: int = 0) -> float:
    """it/s of a minimal loop: whole images degraded once, random aligned crops, Adam, L1."""
    from attnsr.image.degrade import degrade
    from attnsr.image.io import list_images, read_rgb
    from attnsr.image.resize import modcrop

    s = MODEL["scale"]
    pairs = []
    for f in list_images(data)[:20]:
        hr = modcrop(read_rgb(f), s)
        pairs.append((degrade(hr, s, "BI", quantize=True).float(), hr))
    torch.manual_seed(seed)
    model = create(MODEL["name"], scale=s, **MODEL["options"]).train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=LR)
    g = torch.Generator().manual_seed(seed)

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        lrs, hrs = [], []
        for _ in range(BATCH):
            lr, hr = pairs[int(torch.randint(len(pairs), (1,), generator=g))]
            t = int(torch.randint(lr.shape[1] - LR_PATCH + 1, (1,), generator=g))
            u = int(torch.randint(lr.shape[2] - LR_PATCH + 1, (1,), generator=g))
            lrs.append(lr[:, t:t + LR_PATCH, u:u + LR_PATCH])
            hrs.append(hr[:, t * s:(t + LR_PATCH) * s, u * s:(u + LR_PATCH) * s])
        return torch.stack(lrs), torch.stack(hrs)

    for i in range(iterations + 3):
        if i == 3:  # warm-up excluded
            start = time.perf_counter()
        x, y = batch()
        opt.zero_grad(set_to_none=True)
        loss = torch.nn.functional.l1_loss(model(x), y)
        loss.backward()
        opt.step()
    return iterations / (time.perf_counter() - start)


def bicubic_psnr(val: Path, scale: int) -> float:
    from attnsr.image.resize import imresize
    from attnsr.metrics import psnr
    from attnsr.train.loop import load_validation

    images = load_validation(str(val), scale)
    return sum(psnr(imresize(lr, scale), hr, crop_border=scale) for _, lr, hr in images) / len(images)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets" / "T91")
    ap.add_argument("--val", type=Path, default=REPO.parent / "shared" / "datasets" / "Set5")
    ap.add_argument("--minutes", type=float, default=8.0, help="training budget (the whole run stays < 10 min)")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: on a shared 2-core machine two OpenMP threads spin against "
                         "other processes and run ~3x slower; 0 = torch's default)")
    ap.add_argument("--workers", type=int, default=0,
                    help="DataLoader workers (default 0: cached T91 crops take ~1 ms an item, and on 2 cores a worker "
                         "process measured 0.8x the throughput of none)")
    ap.add_argument("--probe", type=int, default=30, help="iterations of the plain loop to time")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    plain = plain_loop_speed(args.data, args.probe)
    iterations = max(50, int(args.minutes * 60 * plain * 0.85))
    print(f"plain loop: {plain:.2f} it/s -> training {iterations} iterations", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = config_from_dict({
            "name": "bench", "output_dir": tmp, "iterations": iterations, "threads": args.threads,
            "log_every": max(1, iterations // 20), "save_every": max(1, iterations // 4), "progress": False,
            "model": MODEL,
            "data": {"hr_dir": str(args.data), "lr_patch": LR_PATCH, "batch_size": BATCH, "num_workers": args.workers,
                     "cache": True},
            "val": {"hr_dir": str(args.val), "every": iterations},
            "optim": {"name": "adam", "lr": LR}, "schedule": {"kind": "cosine"},
        })
        start = time.perf_counter()
        result = train(cfg)
        wall = time.perf_counter() - start
        logs = [json.loads(x) for x in (Path(tmp) / "train_log.jsonl").read_text().splitlines()]
    rates = [r["it_s"] for r in logs if "it_s" in r][1:]  # first window includes start-up
    trainer = sum(rates) / len(rates) if rates else iterations / wall
    after = plain_loop_speed(args.data, args.probe)  # the machine's load drifts: time the plain loop again
    print(f"plain loop before/after training: {plain:.2f} / {after:.2f} it/s")
    plain = 0.5 * (plain + after)
    bicubic = bicubic_psnr(args.val, MODEL["scale"])
    sr = result.best_psnr if result.best_psnr is not None else math.nan
    print(f"Set5 x{MODEL['scale']} PSNR (Y, shave {MODEL['scale']}): trained {sr:.3f} dB vs bicubic {bicubic:.3f} dB "
          f"({'beats' if sr > bicubic else 'does NOT beat'} bicubic by {sr - bicubic:+.3f} dB)")
    print(f"trainer: {trainer:.2f} it/s (batch {BATCH}, LR patch {LR_PATCH}); plain loop {plain:.2f} it/s; "
          f"throughput ratio trainer/plain = {trainer / plain:.3f}")
    print(f"wall time of the training run (incl. start-up, checkpoints, final validation): {wall:.1f} s")
    return 0 if sr > bicubic else 1


if __name__ == "__main__":
    sys.exit(main())
