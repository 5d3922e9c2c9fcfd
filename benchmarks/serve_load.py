"""Load test of ``attnsr serve`` on loopback: N concurrent upscale requests, their latency, and the server's
memory (sequential requests vs N at once, measured in the same run).

Starts ``attnsr serve`` in a child process on 127.0.0.1 (a free port, its own TMPDIR), sends one warm-up
request (loads the model), then ``--sequential`` requests one after another, then ``--requests`` requests
at the same moment (one thread and connection each; a 503 is retried after its Retry-After). Prints wall
time, requests/s, p50/p95 latency, the server's resident memory idle (after the warm-up) and its peak in
each phase (Linux VmHWM, reset between phases through /proc/PID/clear_refs), and checks every output
against ``attnsr.Upscaler`` run here on the same image. Stops the server with SIGTERM (SIGINT is ignored
by background jobs) and checks that it shuts down (uvicorn finishes, then ends by the same signal, status
-15) and leaves nothing in its temp folder. Exit status 1 when any check fails.

Usage: python benchmarks/serve_load.py [--requests 20] [--size 256] [--model default] [--scale 2]
       [--sequential 4] [--threads 0] [--max-growth-mib 512] [--json FILE]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

MAX_REQUESTS = 64
MAX_SIZE = 1024


def make_photo(size: int, seed: int) -> bytes:
    """A photo-like uint8 RGB PNG (gradients, waves, fine noise), different for each seed."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    f = 3 + seed % 7
    base = np.stack([x, y, 0.5 + 0.5 * np.sin(f * 6.28 * x) * np.cos(f * 3.14 * y)], axis=-1)
    img = np.clip(base * 0.8 + rng.normal(0, 0.03, (size, size, 1)) + 0.1, 0, 1)
    buf = io.BytesIO()
    Image.fromarray((img * 255 + 0.5).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mib(pid: int, key: str = "VmRSS") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {key} in /proc/{pid}/status")


class PeakMeter:
    """Peak RSS of a process over a phase: VmHWM after resetting it, and a 5 ms sampler as a check."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")  # resets VmHWM to the current RSS
            self.hwm = True
        except OSError:
            self.hwm = False
        self.sampled = rss_mib(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(0.005):
            self.sampled = max(self.sampled, rss_mib(self.pid))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return max(self.sampled, rss_mib(self.pid, "VmHWM") if self.hwm else 0.0)


def send(url: str, data: bytes, fields: dict[str, str], start: threading.Barrier | None) -> dict:
    """One request (retrying 503s after Retry-After); latency from the start signal to the last byte."""
    import httpx

    retries = 0
    with httpx.Client(timeout=600) as http:
        if start is not None:
            start.wait()
        t0 = time.perf_counter()
        while True:
            r = http.post(f"{url}/v1/upscale", files={"image": ("photo.png", data, "image/png")}, data=fields)
            if r.status_code != 503:
                break
            retries += 1
            time.sleep(float(r.headers.get("retry-after", "1")))
        latency = time.perf_counter() - t0
    return {"status": r.status_code, "body": r.content, "latency": latency, "retries": retries,
            "start": t0, "end": t0 + latency}


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=20, help=f"concurrent requests (at most {MAX_REQUESTS})")
    ap.add_argument("--size", type=int, default=256, help=f"input edge in pixels (at most {MAX_SIZE})")
    ap.add_argument("--model", default="default")
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--sequential", type=int, default=4, help="requests one at a time before the burst")
    ap.add_argument("--threads", type=int, default=0, help="the server's torch threads (0: torch's choice)")
    ap.add_argument("--max-growth-mib", type=float, default=512.0,
                    help="fail when the burst's peak RSS exceeds the idle RSS by more than this")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if not 1 <= args.requests <= MAX_REQUESTS or not 8 <= args.size <= MAX_SIZE:
        ap.error(f"--requests 1..{MAX_REQUESTS} and --size 8..{MAX_SIZE}")

    import torch

    from attnsr.image.io import load_image
    from attnsr.infer.engine import Upscaler
    from attnsr.infer.resolve import resolve_model

    images = [make_photo(args.size, seed) for seed in range(args.requests)]
    fields = {"model": args.model, "scale": str(args.scale), "respond": "image"}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="serve-load-") as tmp:
        server_tmp = Path(tmp) / "server-tmp"
        server_tmp.mkdir()
        log = open(Path(tmp) / "server.log", "w+b")  # noqa: SIM115 - read back on failure
        cmd = [sys.executable, "-m", "attnsr", "serve", "--host", "127.0.0.1", "--port", str(port),
               "--device", "cpu", "--model", args.model, "--threads", str(args.threads),
               "--queue-size", str(args.requests)]
        env = {**os.environ, "TMPDIR": str(server_tmp)}
        server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        try:
            import httpx

            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{url}/v1/models", timeout=2).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    log.seek(0)
                    raise SystemExit(f"serve_load: the server did not start:\n{log.read().decode(errors='replace')}")
                time.sleep(0.1)
            rss_start = rss_mib(server.pid)
            warm = send(url, images[0], fields, None)
            if warm["status"] != 200:
                raise SystemExit(f"serve_load: warm-up request failed: {warm['status']} {warm['body'][:200]!r}")
            time.sleep(0.5)
            idle = rss_mib(server.pid)

            meter = PeakMeter(server.pid)
            seq = [send(url, images[i % len(images)], fields, None) for i in range(args.sequential)]
            peak_seq = meter.stop()

            meter = PeakMeter(server.pid)
            start = threading.Barrier(args.requests)
            with ThreadPoolExecutor(args.requests) as pool:
                burst = list(pool.map(lambda d: send(url, d, fields, start), images))
            wall = max(r["end"] for r in burst) - min(r["start"] for r in burst)
            peak_burst = meter.stop()
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                code = server.wait(60)
            except subprocess.TimeoutExpired:
                server.kill()
                code = server.wait()
        left = sorted(p.name for p in server_tmp.iterdir())
        if code not in (0, -signal.SIGTERM):
            log.seek(0)
            failures.append(f"the server exited {code}: {log.read().decode(errors='replace')[-2000:]}")
        if left:
            failures.append(f"the server left {left} in its temp folder")
        log.close()

        # correctness: every answer against the library on the same image
        resolved = resolve_model(args.model, None, args.scale)
        engine = Upscaler(resolved.model, scale=resolved.scale, device="cpu")
        identical, worst = 0, 0
        for i, r in enumerate(burst + seq):
            src = images[i] if i < len(burst) else images[(i - len(burst)) % len(images)]
            if r["status"] != 200:
                failures.append(f"request {i}: HTTP {r['status']} {r['body'][:200]!r}")
                continue
            (Path(tmp) / "in.png").write_bytes(src)
            (Path(tmp) / "out.png").write_bytes(r["body"])
            want = engine.upscale_array(load_image(Path(tmp) / "in.png").as_array())
            got = load_image(Path(tmp) / "out.png").as_array()
            if got.shape != want.shape:
                failures.append(f"request {i}: output {got.shape}, expected {want.shape}")
                continue
            diff = int(np.abs(got.astype(int) - want.astype(int)).max())
            identical += diff == 0
            worst = max(worst, diff)
        if worst > 1:
            failures.append(f"an output differs from the library's by {worst} levels")

    lat = [r["latency"] for r in burst]
    seq_lat = [r["latency"] for r in seq]
    growth = peak_burst - idle
    if growth > args.max_growth_mib:
        failures.append(f"peak RSS grew {growth:.0f} MiB over idle (limit {args.max_growth_mib:.0f})")
    result = {
        "requests": args.requests, "size": args.size, "model": args.model, "scale": args.scale,
        "server_threads": args.threads or "torch default", "client_torch_threads": torch.get_num_threads(),
        "wall_s": wall, "requests_per_s": args.requests / wall, "p50_s": percentile(lat, 50),
        "p95_s": percentile(lat, 95), "max_s": max(lat), "retries_503": sum(r["retries"] for r in burst),
        "sequential_mean_s": float(np.mean(seq_lat)) if seq_lat else None,
        "rss_start_mib": rss_start, "rss_idle_mib": idle, "peak_sequential_mib": peak_seq,
        "peak_burst_mib": peak_burst, "burst_growth_mib": growth,
        "growth_ratio_burst_vs_sequential": growth / max(peak_seq - idle, 1.0),
        "outputs_identical": identical, "outputs_checked": len(burst) + len(seq), "max_abs_diff": worst,
        "server_exit": code, "failures": failures,
    }
    print(f"attnsr serve load: {args.requests} concurrent {args.size}x{args.size} x{args.scale} "
          f"({args.model}), loopback, server on CPU")
    print(f"  wall {wall:.2f} s  ->  {result['requests_per_s']:.2f} requests/s  "
          f"(one at a time: {result['sequential_mean_s'] or 0:.3f} s each)")
    print(f"  latency p50 {result['p50_s']:.2f} s  p95 {result['p95_s']:.2f} s  max {result['max_s']:.2f} s  "
          f"(503 retries: {result['retries_503']})")
    print(f"  server RSS: start {rss_start:.0f} MiB, idle after warm-up {idle:.0f} MiB, peak {peak_seq:.0f} MiB "
          f"one at a time, {peak_burst:.0f} MiB with {args.requests} at once (+{growth:.0f} MiB over idle)")
    print(f"  outputs: {identical}/{result['outputs_checked']} identical to attnsr.Upscaler here, "
          f"max |diff| {worst}; server exit {code}, temp folder {'empty' if not left else left}")
    for f in failures:
        print(f"  FAIL: {f}")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
