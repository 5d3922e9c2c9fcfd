"""Speed of FSANet with weight norm folded (``attnsr.ops.fold.fold_for_inference``) vs as loaded.

Official configuration (x2, n_blocks=3, group=4), random weights, one 1x3x64x64 LR input, no_grad,
eval mode. Prints median seconds per forward for both and the ratio unfolded/folded (>1: folding helps).

    .venv/bin/python benchmarks/fold.py [--device cpu|cuda] [--size 64] [--repeats 5] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from torch import nn

from attnsr.models import create
from attnsr.ops.fold import fold_for_inference
from attnsr.ops.weight_norm import WNConv2d


def _time(fn: Callable[[], torch.Tensor], device: torch.device, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        times.append(time.perf_counter() - start)
    return times


def _interleaved(models: dict[str, nn.Module], x: torch.Tensor, repeats: int) -> dict[str, float]:
    """Median seconds per forward; the two models alternate so machine-load drift hits both alike."""
    samples: dict[str, list[float]] = {name: [] for name in models}
    with torch.no_grad():
        for model in models.values():  # warm-up (allocator, cuDNN autotuning, oneDNN primitives)
            model(x)
        for _ in range(repeats):
            for name, model in models.items():
                samples[name] += _time(lambda m=model: m(x), x.device, 1)
    return {name: statistics.median(t) for name, t in samples.items()}


def _weight_norm_cost(model: nn.Module, repeats: int) -> float:
    """Median seconds to recompute every weight-norm weight once: the work folding removes per forward."""
    convs = [m for m in model.modules() if isinstance(m, WNConv2d)]
    device = next(model.parameters()).device
    with torch.no_grad():
        times = _time(lambda: [c.weight() for c in convs], device, max(repeats, 20))
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=64, help="LR height and width")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave as is)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    model = create("fsanet", scale=2).eval().to(device)
    folded = fold_for_inference(model)
    x = torch.rand(1, 3, args.size, args.size, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        diff = (model(x) - folded(x)).abs().max().item()
    med = _interleaved({"unfolded": model, "folded": folded}, x, args.repeats)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu x{torch.get_num_threads()} threads"
    print(f"FSANet x2 n_blocks=3 group=4, input 1x3x{args.size}x{args.size}, {name}, fp32, {args.repeats} repeats")
    print(f"max |unfolded - folded| = {diff:.2e}")
    print(f"unfolded: {med['unfolded'] * 1e3:.2f} ms/forward (median)")
    print(f"folded:   {med['folded'] * 1e3:.2f} ms/forward (median)")
    wn = _weight_norm_cost(model, args.repeats)
    print(f"weight-norm recompute per forward: {wn * 1e3:.3f} ms ({100 * wn / med['unfolded']:.3f}% of unfolded)")
    print(f"speed ratio folded vs unfolded (unfolded time / folded time): {med['unfolded'] / med['folded']:.3f}x")


if __name__ == "__main__":
    main()
