"""Helpers for the serve tests: test images as bytes, an in-process client, a loopback server."""

from __future__ import annotations

import io
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'attnsr[serve]')")
pytest.importorskip("httpx", reason="httpx (the test client's transport) is not installed")


def png_bytes(shape: tuple[int, ...], dtype: type = np.uint8, seed: int = 0) -> bytes:
    """A random PNG of ``shape`` (H, W) / (H, W, 3) / (H, W, 4); uint16 RGB(A) goes through attnsr's codec."""
    rng = np.random.default_rng(seed)
    top = 65535 if dtype == np.uint16 else 255
    a = (rng.random(shape) * top).astype(dtype)
    if dtype == np.uint16 and a.ndim == 3:
        from attnsr.image.png16 import encode

        return encode(a, 1)
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


def photo_bytes(size: int = 64) -> bytes:
    """A smooth, photo-like RGB PNG (gradients and a disc), so screenshots show something recognisable."""
    y, x = np.mgrid[0:size, 0:size] / size
    disc = ((x - 0.55) ** 2 + (y - 0.45) ** 2 < 0.08).astype(float)
    blue = 0.8 - 0.5 * x * y + 0.1 * np.sin(20 * x)
    rgb = np.stack([0.2 + 0.6 * x + 0.2 * disc, 0.3 + 0.5 * y * (1 - disc), blue], -1)
    buf = io.BytesIO()
    Image.fromarray((np.clip(rgb, 0, 1) * 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@contextmanager
def live_server(app: object) -> Iterator[str]:
    """Run ``app`` under uvicorn on a free loopback port in a thread; yields its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start within 30 s")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


@pytest.fixture()
def temp_parent(tmp_path: Path) -> Path:
    """The folder the server makes its private temp folder in (checked empty after each test)."""
    folder = tmp_path / "serve-tmp"
    folder.mkdir()
    return folder


@pytest.fixture()
def serve_live() -> object:
    """:func:`live_server`, as a fixture (test modules here are not importable packages)."""
    return live_server


@pytest.fixture()
def make_png() -> object:
    """:func:`png_bytes`, as a fixture."""
    return png_bytes
