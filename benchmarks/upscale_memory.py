"""Peak memory and time of ``attnsr upscale`` on a large photo, vs the machine's RAM.

Makes a smooth-plus-texture RGB test image of the requested size (default 4000×3000, 12 MP), runs
``attnsr upscale`` on it in a child process (default model, ×2, automatic tiles) and prints the child's
peak resident memory (ru_maxrss) as a fraction of the machine's RAM, and its wall time.

Usage: python benchmarks/upscale_memory.py [--size 4000x3000] [--model default] [--scale 2] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


def make_photo(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A deterministic photo-like uint8 RGB image: gradients, a few shapes and fine noise texture."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    base = np.stack([x / width, y / height, 0.5 + 0.5 * np.sin(x / 37.0) * np.cos(y / 53.0)], axis=-1)
    texture = rng.normal(0, 0.03, size=(height, width, 1)).astype(np.float32)
    return (np.clip(base * 0.8 + texture + 0.1, 0, 1) * 255 + 0.5).astype(np.uint8)


def run_child(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) / 1024


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="4000x3000", help="WxH of the test photo")
    ap.add_argument("--model", default="default")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.split("x"))
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photo.png"
        Image.fromarray(make_photo(w, h)).save(src, compress_level=1)
        cmd = [sys.executable, "-m", "attnsr", "upscale", str(src), "-o", str(Path(tmp) / "out"),
               "--model", args.model, "--scale", str(args.scale), "--quiet"]
        wall, peak = run_child(cmd)
        out = Path(tmp) / "out" / f"photo_x{args.scale}.png"
        ok = out.is_file()
    result = {"image": f"{w}x{h}", "scale": args.scale, "model": args.model, "seconds": wall,
              "peak_rss_mib": peak, "machine_ram_gib": total, "fraction_of_ram": peak / 1024 / total,
              "output_written": ok}
    print(f"{w}x{h} x{args.scale} with {args.model}: {wall:.1f} s, peak RSS {peak:.0f} MiB "
          f"({peak / 1024:.2f} GiB = {peak / 1024 / total:.1%} of {total:.1f} GiB RAM), output written: {ok}")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
