"""onnxruntime against the attnsr engine on the same graph: the bundled model's ONNX export and the
engine (inference mode, folded weights, whole image, fp32), one photo-like LR image (default 1 MP, ×2).

The two run interleaved (A B A B ..., best of ``--repeat``) so that load from other processes hits both
alike; both use ``--threads`` threads. Prints seconds, the ratio, and the largest output difference.

Usage: .venv/bin/python benchmarks/onnx_vs_engine.py [--size 1000x1000] [--scale 2] [--threads 1]
       [--repeat 3] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from infer import paired_best_times
from upscale_memory import make_photo

from attnsr.infer.engine import Upscaler
from attnsr.infer.export import export_onnx
from attnsr.infer.resolve import resolve_model


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="1000x1000", help="WxH of the LR photo")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--model", default="default")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    import onnxruntime as ort

    torch.set_num_threads(args.threads)
    w, h = (int(v) for v in args.size.split("x"))
    x = torch.from_numpy(make_photo(w, h)).permute(2, 0, 1)[None].float() / 255
    resolved = resolve_model(args.model, scale=args.scale)
    # ONNX is the plain network: whole image, no border handling
    engine = Upscaler(resolved.model, scale=args.scale, device="cpu", tile=0, border="none")
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    opts.inter_op_num_threads = 1
    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(resolved.model, Path(tmp) / "m.onnx")
        session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    feed = {"lr": x.numpy()}
    outs: dict[str, np.ndarray] = {}

    def run_engine() -> None:
        outs["engine"] = engine.upscale_tensor(x).numpy()

    def run_ort() -> None:
        outs["ort"] = session.run(None, feed)[0]

    times = paired_best_times({"engine": run_engine, "onnxruntime": run_ort}, args.repeat)
    diff = float(np.abs(outs["engine"] - outs["ort"]).max())
    load = os.getloadavg()[0]
    print(f"{w}x{h} x{args.scale}, {resolved.label}, {args.threads} thread(s), best of {args.repeat}, "
          f"load average {load:.2f} at the end (onnxruntime {ort.__version__}, torch {torch.__version__})")
    for name, t in times.items():
        print(f"  {name:<12} {t:7.2f} s")
    print(f"  onnxruntime / engine time: {times['onnxruntime'] / times['engine']:.2f}; max |diff| {diff:.2e}")
    if args.json:
        args.json.write_text(json.dumps({"image": f"{w}x{h}", "scale": args.scale, "model": resolved.label,
                                         "threads": args.threads, "seconds": times, "max_abs_diff": diff,
                                         "load_average": load}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
