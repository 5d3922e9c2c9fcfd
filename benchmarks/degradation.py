"""Cost of the realistic degradation per training batch against the model step it feeds.

For a recipe with ``data.degradation: realistic`` (default: the bundled photo ×2 recipe), in one run and
alternating rounds: (a) ``degrade_realistic`` on a batch of HR patches of the recipe's size, with the
recipe's pipeline, Real-ESRGAN's paper defaults and BSRGAN's; (b) one training step of the recipe's
network (forward, L1, backward, Adam). Prints the median seconds of each and the ratio degradation /
step: below 1 the degradation does not bound the training speed even when run serially, as the
trainer does (its log records both, ``degrade_s`` and ``step_s``).

Usage: .venv/bin/python benchmarks/degradation.py [--recipe configs/bundled/attnsr-photo_x2.yaml]
       [--threads 1] [--rounds 5]
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from attnsr.image.realistic import RealisticConfig, degrade_realistic, mix_seed
from attnsr.models import create
from attnsr.train import load_config

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recipe", type=Path, default=REPO / "configs" / "bundled" / "attnsr-photo_x2.yaml")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    cfg = load_config(args.recipe)
    s, n, p = cfg.model.scale, cfg.data.batch_size, cfg.data.lr_patch
    hr = torch.rand(n, 3, p * s, p * s, generator=torch.Generator().manual_seed(0))
    pipelines = {"recipe": cfg.data.realistic, "realesrgan (paper)": RealisticConfig(),
                 "bsrgan (paper)": RealisticConfig(pipeline="bsrgan")}
    model = create(cfg.model.name, scale=s, **dict(cfg.model.options))
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    times: dict[str, list[float]] = {k: [] for k in [*pipelines, "model step"]}
    lr = degrade_realistic(hr, s, cfg.data.realistic, [mix_seed(0, 0, 0, i) for i in range(n)])
    for r in range(args.rounds):
        for name, real in pipelines.items():
            t0 = time.perf_counter()
            degrade_realistic(hr, s, real, [mix_seed(1, r, 0, i) for i in range(n)])
            times[name].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        loss = (model(lr) - hr).abs().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        times["model step"].append(time.perf_counter() - t0)
    step = statistics.median(times["model step"])
    print(f"{args.recipe.name}: batch {n} x {p * s}x{p * s} HR, x{s}, {cfg.model.name}, {args.threads} thread(s), "
          f"median of {args.rounds}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"  {name:20s} {med * 1000:8.1f} ms   ratio to the model step {med / step:5.2f}")


if __name__ == "__main__":
    main()
