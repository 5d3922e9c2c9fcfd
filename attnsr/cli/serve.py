"""``attnsr serve``: the local web app and HTTP API (needs the extra: ``pip install "attnsr[serve]"``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from attnsr.errors import ConfigError

HELP = "run the local web app and HTTP API (before/after viewer, /v1 API; the 'serve' extra)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1",
                   help="address to bind (default 127.0.0.1: this machine only; 0.0.0.0 shares it on the network)")
    p.add_argument("--port", type=int, default=8000, help="TCP port (default 8000)")
    p.add_argument("--model", default="default",
                   help="model preselected for requests that name none: 'default' (bundled), 'bicubic', a bundled "
                        "family, or the file stem of a --weights file")
    p.add_argument("--weights", type=Path, nargs="+", default=[], metavar="FILE",
                   help="checkpoints to offer as extra models (loaded at start)")
    p.add_argument("--device", default="auto",
                   help="auto, cpu, cuda, cuda:1, or a comma list (one worker per device: cuda:0,cuda:1)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (default 0: torch's choice)")
    p.add_argument("--max-upload-mb", type=float, default=64.0, help="largest request body in MiB (default 64)")
    p.add_argument("--max-pixels", type=int, default=16_000_000,
                   help="largest input width×height (decompression-bomb guard; default 16000000)")
    p.add_argument("--queue-size", type=int, default=16, help="jobs waiting before new ones get 503 (default 16)")
    p.add_argument("--sync-max-pixels", type=int, default=512 * 512,
                   help="inputs up to this many pixels are answered directly, larger ones get a job id")
    p.add_argument("--result-ttl", type=float, default=900.0, help="seconds a finished job's result is kept")


def run(args: argparse.Namespace) -> int:
    try:
        import uvicorn

        from attnsr.serve import ServeConfig, create_app
        from attnsr.serve.config import LOOPBACK_HOSTS
    except ImportError as exc:
        raise ConfigError(f"serve needs its extra: pip install \"attnsr[serve]\" ({exc.name} is missing)") from None
    import torch

    from attnsr.infer.memory import keep_freed_memory

    if not 0 < args.port < 65536:
        raise ConfigError(f"--port: expected 1..65535, got {args.port}")
    if args.threads < 0:
        raise ConfigError(f"--threads: expected 0 (automatic) or a positive count, got {args.threads}")
    if args.threads:
        torch.set_num_threads(args.threads)
    devices = tuple(d.strip() for d in args.device.split(",") if d.strip())
    if any(d.startswith(("auto", "cpu")) for d in devices):
        keep_freed_memory()
    config = ServeConfig(
        model=args.model, weights=tuple(args.weights), devices=devices, max_pixels=args.max_pixels,
        max_upload_bytes=int(args.max_upload_mb * (1 << 20)), queue_size=args.queue_size,
        sync_max_pixels=args.sync_max_pixels, result_ttl_s=args.result_ttl,
    )
    app = create_app(config)
    if args.host not in LOOPBACK_HOSTS:
        print(f"attnsr serve: warning: binding {args.host}: anyone who can reach this address can upload images "
              "and use this machine's CPU/GPU (there is no authentication)", file=sys.stderr)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    print(f"attnsr serve: http://{shown}:{args.port}/  (API docs at /docs; Ctrl-C stops)", file=sys.stderr)
    uvicorn.run(app, host=args.host, port=args.port, log_level="warning")
    return 0
