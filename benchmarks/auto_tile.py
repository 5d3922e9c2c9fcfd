"""The automatic tile choice against the whole image and fixed 384-px tiles, 1 MP ×2, bundled models.

For each model (``--models``, default ``default,photo``) one engine per setting is timed in the same run,
calls interleaved round-robin with the order rotated each round (best of ``--repeat`` after a warm-up),
so that load from other processes and the allocator state left by the previous call hit all alike:

* ``whole``: ``Upscaler(tile=0)``, one forward of the whole image;
* ``tile384``: ``Upscaler(tile=384)``, the old automatic CPU tiles;
* ``auto``: ``Upscaler()`` (``tile=None``), the automatic choice; its tile edge is printed.

Printed per model: the times, ``tile384 / whole`` and ``auto / whole``, the model's descriptor (whether its
tiles are exact) and the largest output difference of 384-px tiles against the whole image (8-bit levels).

Usage: python benchmarks/auto_tile.py [--size 1000x1000] [--models default,photo] [--threads 2]
       [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from upscale_memory import make_photo

from attnsr.infer.engine import Upscaler, keep_freed_memory
from attnsr.infer.resolve import resolve_model


def rotated_best_times(call: Callable[[str], None], keys: list[str], repeat: int) -> dict[str, float]:
    """Best wall time per key after one warm-up each. Round r runs the keys rotated by r, so with
    ``repeat`` a multiple of len(keys) every setting takes every place in the order equally often (what ran
    just before changes the allocator's state, hence the page faults of the next call)."""
    for k in keys:
        call(k)
    best = {k: float("inf") for k in keys}
    for r in range(repeat):
        for k in keys[r % len(keys):] + keys[: r % len(keys)]:
            t0 = time.perf_counter()
            call(k)
            best[k] = min(best[k], time.perf_counter() - t0)
    return best


def measure(model_name: str, photo: np.ndarray, repeat: int) -> dict[str, object]:
    resolved = resolve_model(model_name, scale=2)
    h, w = photo.shape[:2]
    engines = {
        "whole": Upscaler(resolved.model, scale=2, device="cpu", tile=0),
        "tile384": Upscaler(resolved.model, scale=2, device="cpu", tile=384),
        "auto": Upscaler(resolved.model, scale=2, device="cpu"),
    }
    outputs: dict[str, np.ndarray] = {}

    def call(key: str) -> None:
        outputs[key] = engines[key].upscale_array(photo)

    warnings.filterwarnings("ignore", message=".*tiles changes this model's output")  # tile384 on purpose
    times = rotated_best_times(call, list(engines), repeat)
    d = engines["auto"].descriptor
    diff = np.abs(outputs["tile384"].astype(np.int16) - outputs["whole"].astype(np.int16))
    return {
        "model": resolved.label,
        "tiles_exact": bool(d.tiles_exact) if d is not None else None,
        "auto_tile_px": engines["auto"].tile_size(h, w),
        "auto_tiles": engines["auto"].count_tiles(h, w),
        "seconds": times,
        "tile384_over_whole": times["tile384"] / times["whole"],
        "auto_over_whole": times["auto"] / times["whole"],
        "tile384_vs_whole_max_levels": int(diff.max()),
        "tile384_vs_whole_changed_pixels": float((diff > 0).any(axis=2).mean()),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1000x1000", help="WxH of the LR photo")
    ap.add_argument("--models", default="default,photo", help="comma-separated bundled models (x2)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    keep_freed_memory()  # as the command-line tools run
    w, h = (int(v) for v in args.size.split("x"))
    photo = make_photo(w, h)
    print(f"{w}x{h} x2, {torch.get_num_threads()} thread(s), torch {torch.__version__}, best of {args.repeat}")
    results = []
    for name in (m.strip() for m in args.models.split(",") if m.strip()):
        r = measure(name, photo, args.repeat)
        results.append(r)
        t = r["seconds"]
        print(f"{r['model']} (tiles {'exact' if r['tiles_exact'] else 'not exact'}): whole {t['whole']:.2f} s, "
              f"384-px tiles {t['tile384']:.2f} s, auto ({r['auto_tiles']} tile(s) of {r['auto_tile_px']} px) "
              f"{t['auto']:.2f} s")
        print(f"  tile384/whole {r['tile384_over_whole']:.2f}x, auto/whole {r['auto_over_whole']:.2f}x; "
              f"384-px tiles vs whole: max {r['tile384_vs_whole_max_levels']} levels, "
              f"{100 * r['tile384_vs_whole_changed_pixels']:.2f}% of pixels changed")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
