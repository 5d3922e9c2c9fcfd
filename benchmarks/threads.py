"""Thread settings on a busy machine: iterations/s of ``attnsr train configs/defian/cpu_x2.yaml`` and the
seconds of a 1-MP ``attnsr upscale`` under each setting, measured in the same run, interleaved.

Settings: ``torch``: the old default (torch's own thread count, one per core, and OpenMP's default
spin-waiting); ``passive``: the same threads with ``OMP_WAIT_POLICY=PASSIVE``; ``one``: one thread;
``auto``: attnsr's default now (no variables, no ``threads`` setting). Every run is a fresh process, so the
OpenMP runtime reads its environment again.

Usage: python benchmarks/threads.py [--iterations 12] [--rounds 2] [--settings torch,passive,one,auto]
                                    [--upscale 1000]   (0: skip the upscale part)
                                    [--competitor 2]   (another 2-thread torch job on the cores meanwhile)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RECIPE = REPO / "configs" / "defian" / "cpu_x2.yaml"

#: setting -> (extra environment, extra --set for train / extra options for upscale)
SETTINGS: dict[str, tuple[dict[str, str], list[str], list[str]]] = {
    "torch": ({"ATTNSR_THREAD_DEFAULTS": "torch"}, [], []),
    "passive": ({"ATTNSR_THREAD_DEFAULTS": "torch", "OMP_WAIT_POLICY": "PASSIVE"}, [], []),
    "one": ({"ATTNSR_THREAD_DEFAULTS": "torch"}, ["threads=1"], ["--threads", "1"]),
    "auto": ({}, [], []),
}


def _env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")}
    env.update(extra)
    env["PYTHONPATH"] = str(REPO)
    return env


def train_speed(setting: str, iterations: int, shared: Path, timeout: float) -> float:
    """Iterations per second after the first (start-up, caches) of a fresh ``attnsr train`` process."""
    env, sets, _ = SETTINGS[setting]
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "attnsr", "train", str(RECIPE), "--no-progress"]
        for s in [f"output_dir={tmp}/run", f"iterations={iterations}", "log_every=1", "save_every=100000",
                  f"data.hr_dir={shared / 'datasets' / 'T91'}", "val.hr_dir=", *sets]:
            cmd += ["--set", s]
        try:
            subprocess.run(cmd, env=_env(env), cwd=REPO, capture_output=True, text=True, timeout=timeout, check=True)
        except subprocess.TimeoutExpired:
            pass  # too slow to finish: measure what the log holds
        log = Path(tmp) / "run" / "train_log.jsonl"
        rates = [json.loads(line)["it_s"] for line in log.read_text().splitlines()] if log.is_file() else []
    rates = rates[1:] or rates
    return len(rates) / sum(1.0 / r for r in rates) if rates else 0.0  # harmonic mean: iterations / seconds


def upscale_seconds(setting: str, size: int, timeout: float) -> float:
    env, _, opts = SETTINGS[setting]
    import numpy as np
    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "in.png"
        rng = np.random.default_rng(0)
        smooth = np.cumsum(np.cumsum(rng.normal(0, 1, (size, size, 3)), 0), 1)
        Image.fromarray(((smooth - smooth.min()) / np.ptp(smooth) * 255).astype(np.uint8)).save(src)
        cmd = [sys.executable, "-m", "attnsr", "upscale", str(src), "-o", str(Path(tmp) / "out.png"),
               "--no-progress", *opts]
        t0 = time.perf_counter()
        subprocess.run(cmd, env=_env(env), cwd=REPO, capture_output=True, text=True, timeout=timeout, check=True)
        return time.perf_counter() - t0


COMPETITOR = """
import torch
torch.set_num_threads({threads})
x = torch.rand(1, 32, 96, 96)
conv = torch.nn.Conv2d(32, 32, 3, padding=1)
with torch.no_grad():
    while True:
        conv(x)
"""


def start_competitor(threads: int) -> subprocess.Popen:
    """Another job on the same cores: small convolutions in a loop with torch's default OpenMP (as a
    second training run would be)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_WAIT_POLICY")}
    return subprocess.Popen([sys.executable, "-c", COMPETITOR.format(threads=threads)], env=env)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--iterations", type=int, default=12)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--settings", default="torch,passive,one,auto")
    ap.add_argument("--upscale", type=int, default=1000, help="edge of the square upscale input; 0 skips it")
    ap.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    ap.add_argument("--timeout", type=float, default=240.0, help="seconds per process")
    ap.add_argument("--competitor", type=int, default=0, metavar="THREADS",
                    help="run another torch job with this many threads on the same cores meanwhile (0: none)")
    args = ap.parse_args(argv)
    names = args.settings.split(",")
    other = start_competitor(args.competitor) if args.competitor else None
    try:
        return _measure(args, names)
    finally:
        if other is not None:
            other.kill()
            other.wait()


def _measure(args: argparse.Namespace, names: list[str]) -> int:
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start")
    train: dict[str, list[float]] = {n: [] for n in names}
    up: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.rounds):
        for n in names if r % 2 == 0 else names[::-1]:
            train[n].append(train_speed(n, args.iterations, args.shared, args.timeout))
            if args.upscale:
                up[n].append(upscale_seconds(n, args.upscale, args.timeout))
            print(f"round {r + 1} {n}: train {train[n][-1]:.3f} it/s" +
                  (f", upscale {up[n][-1]:.1f} s" if args.upscale else "") +
                  f" (load {os.getloadavg()[0]:.1f})", flush=True)
    base = names[0]
    print("| setting | train it/s (best) | vs " + base + " | upscale s (best) | vs " + base + " |")
    print("|---|---|---|---|---|")
    for n in names:
        t, u = max(train[n]), (min(up[n]) if up[n] else float("nan"))
        print(f"| {n} | {t:.3f} | {t / max(max(train[base]), 1e-9):.1f}x | {u:.1f} | "
              f"{min(up[base]) / u if up[n] else float('nan'):.2f}x faster |")
    print(f"load average {os.getloadavg()[0]:.1f} at the end")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
