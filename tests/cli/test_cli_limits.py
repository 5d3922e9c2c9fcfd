"""Limits that mean what they say: --max-pixels governs every format (not Pillow's own 179 MP), and a
huge image accepted by the limit is announced, or refused when it cannot fit in memory."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import pytest

from attnsr.cli.main import main
from attnsr.errors import ImageError
from attnsr.image.io import image_size, load_image


def _png_header_only(path: Path, width: int, height: int) -> Path:
    """An 8-bit RGB PNG that declares width x height but holds no pixel data (costs nothing to make)."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = struct.pack(">I", len(ihdr)) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    end = struct.pack(">I", 0) + b"IEND" + struct.pack(">I", zlib.crc32(b"IEND"))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk + end)
    return path


def test_max_pixels_and_not_pillow_decides_for_8bit_files(tmp_path: Path) -> None:
    from PIL import Image

    default = Image.MAX_IMAGE_PIXELS
    big = _png_header_only(tmp_path / "big.png", 15000, 12000)  # 180 MP: over Pillow's 2 x 89.5 MP
    assert image_size(big) == (15000, 12000)
    with pytest.raises(ImageError) as err:
        load_image(big, max_pixels=200_000_000)  # allowed: it fails only because it holds no pixels
    assert "bomb" not in str(err.value) and "too many" not in str(err.value) and "exceeds" not in str(err.value)
    with pytest.raises(ImageError, match="exceeds the limit of 100000000"):
        load_image(big, max_pixels=100_000_000)
    small = _png_header_only(tmp_path / "s.png", 100, 100)
    with pytest.raises(ImageError, match="exceeds the limit of 9999"):
        load_image(small, max_pixels=9_999)
    assert Image.MAX_IMAGE_PIXELS == default  # Pillow's own setting is restored


def test_cli_max_pixels_refuses_before_decoding(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _png_header_only(tmp_path / "a.png", 400, 300)
    assert main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "--model", "bicubic",
                 "--max-pixels", "100000"]) == 1
    err = capsys.readouterr().err
    assert "120000 pixels exceeds --max-pixels 100000" in err


def test_huge_image_is_announced_or_refused_by_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture) -> None:
    import attnsr.infer.engine as engine

    src = _png_header_only(tmp_path / "huge.png", 6000, 5000)  # 30 MP, x2: about 3.4 GiB
    monkeypatch.setattr(engine, "available_memory", lambda _device: 1 << 30)
    assert main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "--model", "bicubic"]) == 1
    err = capsys.readouterr().err
    assert "needs about 3.4 GiB of memory, 1.0 GiB are available" in err
    monkeypatch.setattr(engine, "available_memory", lambda _device: 1 << 40)
    assert main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "--model", "bicubic"]) == 1
    err = capsys.readouterr().err
    assert "note:" in err and "needs about 3.4 GiB" in err  # announced, then it fails: no pixel data
