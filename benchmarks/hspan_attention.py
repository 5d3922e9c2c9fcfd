"""HSPA attention: official-style dense solver vs attnsr's chunked exact sparsemax; speed and peak memory.

Layers (default): the input of each HSPA of a README-size HSPAN (×2, seed-0 default init) for a 96×96 LR
crop of a real image is captured, then all ten HSPAs are run with both implementations, in alternating
rounds (so that load from other processes hits both alike); the script prints the best time of each,
their ratio, the range of the per-round ratios and the largest output difference.

Whole network (``--whole``): the whole HSPAN ×2 forward at ``--lr`` with each attention, for every thread
count in ``--whole-threads`` and every load in ``--loads``: ``quiet``, or ``busy`` (a second process spins
one core for the whole measurement, as another job on a shared machine would). Each round runs both
implementations in turn; the script prints CPU time (this process, all threads) and wall time per
forward, best and median, and the median of the per-round wall-time ratios. ``--chop`` adds the
official test-time chop (``forward_chop``, four crops) at 160×160 LR, the official benchmark case.

Memory: a child process runs one README-size HSPA (C=192) at the given LR size (default 256×256,
65,536 positions) with attnsr's implementation and reports its peak RSS (``resource.getrusage``,
next to the RSS just before the forward). The official dense path needs three P×P float32 matrices
at once (scores, shifted scores, thresholded scores): that figure is printed as computed, since it
exceeds the memory of most machines at this size.

Run: ``.venv/bin/python benchmarks/hspan_attention.py [--threads 1] [--repeats 3] [--mem-size 256] [--full]``
     ``.venv/bin/python benchmarks/hspan_attention.py --whole --whole-threads 1,2 --loads quiet,busy [--chop 2:busy]``
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from attnsr.models import hspan
from attnsr.ops import sparsemax

REPO = Path(__file__).resolve().parents[1]


def naive_sparsemax_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, *, topk: int,
                              chunk_size: int | None = None, workers: int | None = None) -> torch.Tensor:
    """Baseline, written plainly after the official algorithm: dense scores, dense threshold, dense A·V."""
    del chunk_size, workers
    scores = torch.matmul(query, key)
    shifted = scores - scores.max(dim=-1, keepdim=True).values
    tau = _naive_tau(shifted, topk)
    weights = torch.clamp(shifted - tau, min=0)
    return torch.matmul(weights, value)


def _naive_tau(z: torch.Tensor, k: int) -> torch.Tensor:
    """τ per row (…×1) by the official growing top-k search."""
    n_keys = z.shape[-1]
    cand = torch.sort(z, dim=-1, descending=True).values if k >= n_keys else torch.topk(z, k, dim=-1).values
    tau, support = sparsemax.sparsemax_threshold(cand.reshape(-1, cand.shape[-1]))
    tau, support = tau.reshape(*z.shape[:-1], 1), support.reshape(*z.shape[:-1], 1)
    if k < n_keys:
        redo = (support == k).squeeze(-1)
        if bool(redo.any()):
            tau[redo] = _naive_tau(z[redo], 2 * k)
    return tau


def scores_only_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, *, topk: int,
                          chunk_size: int | None = None, workers: int | None = None) -> torch.Tensor:
    """Floor of any exact method: only the chunked score matmul (every score is needed), output zeros."""
    del topk, workers
    step = chunk_size or sparsemax.auto_chunk_size(query.shape[0], query.shape[1])
    for start in range(0, query.shape[1], step):
        torch.bmm(query[:, start:start + step], key)
    return value.new_zeros(value.shape)


def _lr_image(size: int) -> torch.Tensor:
    """A size×size crop of a real photo (B100 or Set14 from ../shared, else a smooth pattern)."""
    for folder in (REPO.parent / "shared/datasets/B100", REPO.parent / "shared/datasets/Set14"):
        files = sorted(folder.glob("*.png")) if folder.is_dir() else []
        if files:
            img = np.asarray(Image.open(files[0]).convert("RGB"), dtype=np.float32) / 255.0
            t = torch.from_numpy(img).permute(2, 0, 1)[None]
            return t[..., :size, :size].contiguous()
    yy, xx = torch.meshgrid(torch.linspace(0, 6, size), torch.linspace(0, 9, size), indexing="ij")
    return torch.stack([yy.sin(), xx.cos(), (yy + xx).sin()])[None].mul(0.5).add(0.5)


def _capture_hspa_inputs(model: hspan.HSPAN, x: torch.Tensor) -> list[tuple[hspan.HSPA, torch.Tensor]]:
    found: list[tuple[hspan.HSPA, torch.Tensor]] = []
    hooks = [m.register_forward_pre_hook(lambda mod, args: found.append((mod, args[0])))
             for m in model.modules() if isinstance(m, hspan.HSPA)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    return found


def _with_attention(impl, fn):
    """``fn()`` with ``impl`` as HSPA's attention (HSPA.forward looks the function up at call time)."""
    ours = hspan.sparsemax_attention
    hspan.sparsemax_attention = impl
    try:
        return fn()
    finally:
        hspan.sparsemax_attention = ours


def _run_all(pairs, impl) -> list[torch.Tensor]:
    hspan.sparsemax_attention = impl  # HSPA.forward looks the function up at call time
    with torch.no_grad():
        return [mod(inp) for mod, inp in pairs]


def _interleaved(fns: dict, repeats: int) -> tuple[dict[str, list[float]], dict[str, list[float]], dict]:
    """Run the implementations in turn, ``repeats`` rounds: a busy machine slows both alike.

    Returns wall seconds and CPU seconds (this process, all threads) per name and round, and each one's
    last output."""
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    outs: dict = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            outs[name] = fn()
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    return wall, cpu, outs


def speed(lr: int, repeats: int, full: bool) -> None:
    torch.manual_seed(0)
    model = hspan.HSPAN(hspan.HSPANConfig(scale=2)).eval()
    x = _lr_image(lr)
    ours_fn = hspan.sparsemax_attention
    pairs = _capture_hspa_inputs(model, x)
    times, _, outs = _interleaved({"naive": lambda: _run_all(pairs, naive_sparsemax_attention),
                                "ours": lambda: _run_all(pairs, ours_fn)}, repeats)
    hspan.sparsemax_attention = ours_fn
    diff = max((a - b).abs().max().item() for a, b in zip(outs["naive"], outs["ours"]))
    t_naive, t_ours = min(times["naive"]), min(times["ours"])
    rounds = sorted(a / b for a, b in zip(times["naive"], times["ours"]))
    print(f"HSPA x{len(pairs)} at {lr}x{lr} LR (P={lr * lr}, C=192), {torch.get_num_threads()} thread(s), best of "
          f"{repeats} interleaved rounds: official-style {t_naive:.2f} s, ours {t_ours:.2f} s, speed-up "
          f"{t_naive / t_ours:.2f}x (per round {rounds[0]:.2f}-{rounds[-1]:.2f}x), max |diff| {diff:.2e}")
    if full:
        for name, impl in (("naive", naive_sparsemax_attention), ("ours", ours_fn)):
            hspan.sparsemax_attention = impl
            with torch.no_grad():
                t0 = time.perf_counter()
                model(x)
                t = time.perf_counter() - t0
            print(f"whole HSPAN x2 forward at {lr}x{lr} LR with {name} attention: {t:.2f} s")
        hspan.sparsemax_attention = ours_fn


_SPIN = "import time\nend = time.time() + 3600\nwhile time.time() < end:\n    pass\n"


class _Load:
    """``busy``: a child process that spins one core until the block ends; ``quiet``: nothing."""

    def __init__(self, kind: str) -> None:
        if kind not in ("quiet", "busy"):
            raise SystemExit(f"--loads: unknown load {kind!r} (quiet or busy)")
        self.kind = kind
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> "_Load":
        if self.kind == "busy":
            self.proc = subprocess.Popen([sys.executable, "-c", _SPIN])
            time.sleep(1.0)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()


def whole(lr: int, repeats: int, thread_counts: list[int], loads: list[str], chop: list[tuple[int, str]]
          ) -> list[dict]:
    """Whole HSPAN ×2 forwards with the official-style and attnsr's attention, per threads × load, and
    the network with only the score matmuls as attention ("floor": what no exact solver can beat)."""
    torch.manual_seed(0)
    model = hspan.HSPAN(hspan.HSPANConfig(scale=2)).eval()
    ours_fn = hspan.sparsemax_attention
    impls = {"official-style": naive_sparsemax_attention, "attnsr": ours_fn, "floor": scores_only_attention}
    grid = [(t, load) for load in loads for t in thread_counts]
    cases = [("whole", lr, model, grid, repeats)]
    if chop:
        cases.append(("chop", 160, lambda x: hspan.forward_chop(model, x), chop, 1))
    results = []
    for case, size, run, modes, rounds in cases:
        x = _lr_image(size)
        for threads, load in modes:
            torch.set_num_threads(threads)
            with _Load(load), torch.no_grad():
                wall, cpu, outs = _interleaved(
                    {name: (lambda impl=impl: _with_attention(impl, lambda: run(x))) for name, impl in impls.items()},
                    rounds)
            rec: dict = {"case": case, "lr": size, "threads": threads, "load": load, "cpu_s": cpu, "wall_s": wall}
            ratios = [a / b for a, b in zip(rec["wall_s"]["official-style"], rec["wall_s"]["attnsr"])]
            rec["wall_ratio_median"] = statistics.median(ratios)
            rec["wall_ratio_range"] = [min(ratios), max(ratios)]
            rec["max_abs_diff"] = (outs["official-style"] - outs["attnsr"]).abs().max().item()
            rec["floor_ratio_median"] = statistics.median(
                a / b for a, b in zip(rec["wall_s"]["official-style"], rec["wall_s"]["floor"]))
            results.append(rec)
            line = ", ".join(
                f"{name} wall {min(rec['wall_s'][name]):.2f}/{statistics.median(rec['wall_s'][name]):.2f} s "
                f"cpu {min(rec['cpu_s'][name]):.2f}/{statistics.median(rec['cpu_s'][name]):.2f} s"
                for name in impls)
            print(f"{case} HSPAN x2 at {size}x{size} LR, {threads} thread(s), {load}, {rounds} round(s) "
                  f"(best/median): {line}; official-style/attnsr wall {rec['wall_ratio_median']:.2f}x "
                  f"(rounds {min(ratios):.2f}-{max(ratios):.2f}x; official-style/floor "
                  f"{rec['floor_ratio_median']:.2f}x), max |diff| {rec['max_abs_diff']:.2e}", flush=True)
    return results


def _current_rss_mib() -> float:
    """Resident set size now (Linux /proc; falls back to the peak so far elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def memory_child(size: int) -> None:
    """Child process: one README-size HSPA forward at size×size; prints JSON with RSS figures (MiB)."""
    torch.manual_seed(0)
    layer = hspan.HSPA(192, 2, 0.1, 128).eval()
    feats = torch.randn(1, 192, size, size) * 0.5
    with torch.no_grad():
        layer.conv_match1(feats[..., :8, :8])  # warm up allocators before the baseline
    before = _current_rss_mib()
    t0 = time.perf_counter()
    with torch.no_grad():
        layer(feats)
    seconds = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"peak_mib": peak, "before_mib": before, "seconds": seconds}))


def memory(size: int, threads: int) -> None:
    cmd = [sys.executable, __file__, "--memory-child", str(size), "--threads", str(threads)]
    res = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1])
    p = size * size
    dense_gib = 3 * p * p * 4 / 2**30
    print(f"one HSPA (C=192) at {size}x{size} LR (P={p}), ours: peak RSS {res['peak_mib']:.0f} MiB "
          f"(+{res['peak_mib'] - res['before_mib']:.0f} MiB during forward, {res['seconds']:.1f} s); "
          f"official dense path needs >= {dense_gib:.1f} GiB (3 P×P float32 matrices)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lr", type=int, default=96, help="LR side for the speed comparison")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved rounds (best one reported)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--mem-size", type=int, default=256, help="LR side for the memory figure (0: skip)")
    parser.add_argument("--full", action="store_true", help="also time the whole network forward")
    parser.add_argument("--whole", action="store_true", help="whole-network forwards per threads and load")
    parser.add_argument("--whole-threads", default="1,2", help="thread counts for --whole (comma-separated)")
    parser.add_argument("--loads", default="quiet,busy", help="loads for --whole: quiet, busy (comma-separated)")
    parser.add_argument("--chop", default="", help="with --whole: also the official chop at 160x160 LR (one "
                        "round) in these threads:load modes, e.g. 2:busy,1:quiet")
    parser.add_argument("--json", type=Path, help="with --whole: write the measurements here")
    parser.add_argument("--memory-child", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.memory_child:
        memory_child(args.memory_child)
        return
    if args.whole:
        results = whole(args.lr, args.repeats, [int(t) for t in args.whole_threads.split(",")],
                        args.loads.split(","), [(int(m.split(":")[0]), m.split(":")[1])
                                                for m in args.chop.split(",") if m])
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"torch": torch.__version__, "results": results}, indent=1) + "\n")
        return
    speed(args.lr, args.repeats, args.full)
    if args.mem_size:
        memory(args.mem_size, args.threads)


if __name__ == "__main__":
    main()
