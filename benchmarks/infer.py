"""Inference speed of every network: our engine vs a plain forward, and both vs the machine's peak.

For each generator at its official configuration (random weights: speed does not depend on values) and a
fixed LR input size, measures in this one run:
  * mpix_per_s            SR megapixels per second through attnsr.Upscaler (inference mode, folded
                          weights, whole image as one tile, fp32);
  * baseline_mpix_per_s   the same weights through a naive ``model(x)`` in float32 with autograd on;
  * speedup               their ratio;
  * gflops_achieved       the model's FLOPs (torch FlopCounterMode) / our time;
  * efficiency            gflops_achieved / peak_gflops, the machine's measured float32 matmul peak.

Usage: python benchmarks/infer.py [--size 64] [--models a,b] [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable

import torch

from attnsr.infer.engine import Upscaler
from attnsr.models import all_entries, create
from attnsr.models.stats import count_flops


def best_time(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up (allocator, oneDNN primitive cache)
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def peak_gflops(n: int = 2048, repeat: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    return 2 * n**3 / best_time(lambda: a @ b, repeat) / 1e9


def bench_model(name: str, scale: int, size: int, repeat: int, peak: float) -> dict[str, float]:
    torch.manual_seed(0)
    model = create(name, scale=scale).eval()
    x = torch.rand(1, 3, size, size)
    mpix = (size * scale) ** 2 / 1e6
    flops = count_flops(model, size, size)

    def baseline() -> object:
        with torch.enable_grad():
            return model(x)

    t_base = best_time(baseline, repeat)
    engine = Upscaler(model, scale=scale, device="cpu", tile=0)
    t_ours = best_time(lambda: engine.upscale_tensor(x), repeat)
    gflops = flops / t_ours / 1e9
    return {
        "scale": scale, "input": size, "gflop_per_forward": flops / 1e9,
        "mpix_per_s": mpix / t_ours, "baseline_mpix_per_s": mpix / t_base, "speedup": t_base / t_ours,
        "gflops_achieved": gflops, "efficiency": gflops / peak,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64, help="LR input edge (default 64)")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--models", default="", help="comma-separated registry names (default: every generator)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    entries = all_entries()
    names = [n for n in args.models.split(",") if n] or [n for n, e in entries.items() if e.role == "generator"]
    peak = peak_gflops()
    machine = {"cpu": platform.processor() or platform.machine(), "threads": args.threads,
               "torch": torch.__version__, "peak_gflops": peak}
    print(f"peak float32 matmul (2048^3): {peak:.1f} GFLOP/s on {args.threads} threads")
    print(f"{'model':<12} {'GFLOP':>8} {'ours MP/s':>10} {'base MP/s':>10} {'speedup':>8} {'GFLOP/s':>8} {'eff':>6}")
    results = {}
    for name in names:
        scale = args.scale if args.scale in entries[name].scales else entries[name].scales[-1]
        r = bench_model(name, scale, args.size, args.repeat, peak)
        results[name] = r
        print(f"{name:<12} {r['gflop_per_forward']:8.2f} {r['mpix_per_s']:10.4f} {r['baseline_mpix_per_s']:10.4f} "
              f"{r['speedup']:8.2f} {r['gflops_achieved']:8.1f} {r['efficiency']:6.1%}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "models": results}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
