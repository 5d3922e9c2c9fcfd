"""Inference speed of every network: our engine vs a plain forward, and both vs the machine's peak.

For each generator at its official configuration (random weights: speed does not depend on values) and a
fixed LR input size, measures in this one run:
  * mpix_per_s            SR megapixels per second through attnsr.Upscaler with its default options
                          (inference mode, folded weights, the device's default memory layout, whole image
                          as one tile, fp32);
  * baseline_mpix_per_s   the same weights through a naive ``model(x)`` in float32 with autograd on;
  * speedup               their ratio;
  * gflops_achieved       the model's FLOPs (torch FlopCounterMode) / our time;
  * efficiency            gflops_achieved / peak_gflops, the machine's measured float32 matmul peak;
  * conv_share            (with --profile) fraction of our forward's CPU time spent in convolution and
                          matmul kernels: what is left is elementwise/attention/reduction work, the
                          usual reason a network sits below the peak.

The contenders of one network are timed interleaved (A B A B ...) and each keeps its best time, so a
machine whose load changes during the run slows them alike; the peak is measured before and after the
models and the larger value kept (the hardware's limit is the best it showed).

Usage: python benchmarks/infer.py [--size 64] [--models a,b] [--repeat 3] [--threads N] [--json FILE]
       [--layout default|nchw|nhwc|both] [--profile]
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

CONV_KERNELS = ("conv", "mm", "matmul", "linear")


def paired_best_times(fns: dict[str, Callable[[], object]], repeat: int) -> dict[str, float]:
    """Best wall time of each function, calls interleaved round-robin after one warm-up each."""
    for fn in fns.values():
        fn()  # warm-up (allocator, oneDNN primitive cache)
    best = {k: float("inf") for k in fns}
    for _ in range(repeat):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def peak_gflops(n: int = 2048, repeat: int = 5) -> float:
    """Float32 GFLOP/s of an n³ matmul (best of ``repeat``): the compute roof convolutions aim at."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    t = paired_best_times({"mm": lambda: a @ b}, repeat)["mm"]
    return 2 * n**3 / t / 1e9


def conv_share(fn: Callable[[], object]) -> float:
    """Fraction of one call's self CPU time spent in convolution / matmul kernels (torch profiler)."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = prof.key_averages()
    total = sum(e.self_cpu_time_total for e in events)
    conv = sum(e.self_cpu_time_total for e in events if any(k in e.key for k in CONV_KERNELS))
    return conv / total if total else 0.0


def _layouts(choice: str) -> dict[str, bool | None]:
    return {"default": {"ours": None}, "nchw": {"ours": False}, "nhwc": {"ours": True},
            "both": {"ours_nchw": False, "ours_nhwc": True}}[choice]


def bench_model(
    name: str, scale: int, size: int, repeat: int, peak: float, layout: str, profile: bool
) -> dict[str, float]:
    torch.manual_seed(0)
    model = create(name, scale=scale).eval()
    x = torch.rand(1, 3, size, size)
    mpix = (size * scale) ** 2 / 1e6
    flops = count_flops(model, size, size)

    def baseline() -> object:
        with torch.enable_grad():
            return model(x)

    engines = {k: Upscaler(model, scale=scale, device="cpu", tile=0, channels_last=cl)
               for k, cl in _layouts(layout).items()}
    fns: dict[str, Callable[[], object]] = {"baseline": baseline}
    fns.update({k: (lambda e=e: e.upscale_tensor(x)) for k, e in engines.items()})
    times = paired_best_times(fns, repeat)
    ours = min((k for k in engines), key=lambda k: times[k]) if layout == "both" else next(iter(engines))
    t_ours, t_base = times[ours], times["baseline"]
    gflops = flops / t_ours / 1e9
    result = {
        "scale": scale, "input": size, "gflop_per_forward": flops / 1e9,
        "mpix_per_s": mpix / t_ours, "baseline_mpix_per_s": mpix / t_base, "speedup": t_base / t_ours,
        "gflops_achieved": gflops, "efficiency": gflops / peak,
        "channels_last": bool(engines[ours].options.channels_last),
    }
    if layout == "both":
        result["nhwc_over_nchw"] = times["ours_nchw"] / times["ours_nhwc"]
    if profile:
        with torch.inference_mode():
            result["conv_share"] = conv_share(lambda: engines[ours].upscale_tensor(x))
    return result


def _row(name: str, r: dict[str, float]) -> str:
    extra = f" {r['nhwc_over_nchw']:9.2f}" if "nhwc_over_nchw" in r else ""
    extra += f" {r['conv_share']:6.0%}" if "conv_share" in r else ""
    return (f"{name:<10} x{r['scale']} {r['gflop_per_forward']:8.2f} {r['mpix_per_s']:9.4f} "
            f"{r['baseline_mpix_per_s']:9.4f} {r['speedup']:7.2f} {r['gflops_achieved']:8.1f} "
            f"{r['efficiency']:6.1%}{extra}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=64, help="LR input edge (default 64)")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--models", default="", help="comma-separated registry names (default: every generator)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--layout", choices=("default", "nchw", "nhwc", "both"), default="default",
                    help="engine memory layout; 'both' times NCHW and NHWC and reports the faster")
    ap.add_argument("--profile", action="store_true", help="also report the conv/matmul share of time")
    ap.add_argument("--json", default=None, help="write the results here")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    entries = all_entries()
    names = [n for n in args.models.split(",") if n] or [n for n, e in entries.items() if e.role == "generator"]
    unknown = sorted(set(names) - set(entries))
    if unknown:
        ap.error(f"unknown model(s) {unknown}; known: {sorted(entries)}")
    peak_before = peak_gflops()
    print(f"peak float32 matmul (2048^3) before: {peak_before:.1f} GFLOP/s on {args.threads} threads", flush=True)
    head = f"{'model':<10} {'s':>2} {'GFLOP':>8} {'ours MP/s':>9} {'base MP/s':>9} {'speedup':>7} "
    head += f"{'GFLOP/s':>8} {'eff*':>6}"
    head += " nhwc/nchw" if args.layout == "both" else ""
    head += " conv%" if args.profile else ""
    print(head)
    results = {}
    for name in names:
        scale = args.scale if args.scale in entries[name].scales else entries[name].scales[-1]
        results[name] = bench_model(name, scale, args.size, args.repeat, peak_before, args.layout, args.profile)
        print(_row(name, results[name]), flush=True)
    peak_after = peak_gflops()
    peak = max(peak_before, peak_after)
    for r in results.values():
        r["efficiency"] = r["gflops_achieved"] / peak
    print(f"peak after: {peak_after:.1f} GFLOP/s; efficiencies against the larger, {peak:.1f} GFLOP/s "
          "(*column above used the 'before' value)")
    if args.json:
        machine = {"cpu": _cpu_name(), "threads": args.threads, "torch": torch.__version__,
                   "peak_gflops": peak, "peak_before": peak_before, "peak_after": peak_after,
                   "input": args.size, "layout": args.layout}
        with open(args.json, "w") as f:
            json.dump({"machine": machine, "models": results}, f, indent=2)
    return 0


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    sys.exit(main())
