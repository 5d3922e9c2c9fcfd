"""Time to upscale one photo (default 1000×1000, 1 MP, ×2) with the default model, against the 10 s budget.

Measured in one run on a generated photo-like image (benchmarks/upscale_memory.py's ``make_photo``):

* ``attnsr upscale`` end to end in a child process (Python and torch start-up, PNG decode, upscale, PNG
  encode), best of ``--repeat``;
* in this process: the engine alone (``Upscaler.upscale_array``, automatic tiles) and, for comparison,
  a plain whole-image ``model(x)`` forward with autograd on (the naive way), best of ``--repeat``, in
  alternating rounds so that load from other processes hits both alike;
* ``--tiles 256,320,512``: the engine at each fixed LR tile size (how ``EngineOptions.cpu_max_tile`` was
  chosen).

Each time is printed with its ratio to the budget (``--budget``, default 10 s). ``--json FILE`` saves them.

Usage: .venv/bin/python benchmarks/upscale_speed.py [--size 1000x1000] [--scale 2] [--threads N]
       [--repeat 3] [--tiles 256,320,512] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from infer import paired_best_times
from upscale_memory import make_photo

from attnsr.infer.engine import Upscaler
from attnsr.infer.resolve import resolve_model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1000x1000", help="WxH of the LR photo")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--model", default="default", help="bundled model (default, photo) or bicubic")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--tiles", default="", help="comma-separated fixed LR tile sizes to time as well")
    ap.add_argument("--budget", type=float, default=10.0, help="seconds allowed")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    w, h = (int(v) for v in args.size.split("x"))
    photo = make_photo(w, h)
    resolved = resolve_model(args.model, scale=args.scale)
    engine = Upscaler(resolved.model, scale=args.scale, device="cpu")
    model = resolved.model.eval()
    x = torch.from_numpy(photo).permute(2, 0, 1)[None].float() / 255

    def plain() -> None:
        with torch.enable_grad():
            model(x)

    fns = {"engine": lambda: engine.upscale_array(photo), "plain_forward": plain}
    for tile in (int(t) for t in args.tiles.split(",") if t.strip()):
        tiled = Upscaler(resolved.model, scale=args.scale, device="cpu", tile=tile)
        fns[f"engine_tile{tile}"] = lambda e=tiled: e.upscale_array(photo)
    times = paired_best_times(fns, args.repeat)

    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "photo.png"
        Image.fromarray(photo).save(src, compress_level=1)
        cmd = [sys.executable, "-m", "attnsr", "upscale", str(src), "-o", str(Path(tmp) / "out"), "--scale",
               str(args.scale), "--model", args.model, "--quiet", "--overwrite"]
        if args.threads:
            cmd += ["--threads", str(args.threads)]
        cli = float("inf")
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            cli = min(cli, time.perf_counter() - t0)
        out = np.asarray(Image.open(Path(tmp) / "out" / f"photo_x{args.scale}.png"))
        ok = out.shape[:2] == (h * args.scale, w * args.scale)
    times["cli_end_to_end"] = cli

    print(f"{w}x{h} x{args.scale}, model {resolved.label}, {torch.get_num_threads()} thread(s), best of "
          f"{args.repeat}; budget {args.budget:.0f} s; engine tile {engine.tile_size(h, w)} px")
    for name, t in times.items():
        print(f"  {name:<18} {t:7.2f} s   {t / args.budget:5.2f} x budget")
    print(f"  engine speed-up over the plain forward: {times['plain_forward'] / times['engine']:.2f}x; "
          f"output size correct: {ok}")
    if args.json:
        args.json.write_text(json.dumps({"image": f"{w}x{h}", "scale": args.scale, "model": resolved.label,
                                         "threads": torch.get_num_threads(), "budget_s": args.budget,
                                         "seconds": times, "output_ok": ok}, indent=2))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
