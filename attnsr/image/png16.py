"""A minimal 16-bit PNG codec (numpy + zlib) for what Pillow cannot do: Pillow reads 16-bit RGB/RGBA and
grey+alpha PNGs as 8-bit and cannot write them at all. Only non-interlaced, 16-bit colour types
0 (grey), 2 (RGB), 4 (grey+alpha) and 6 (RGBA) are handled; everything else goes through Pillow.

Decoding undoes the five PNG row filters with an anti-diagonal wavefront: pixel (y, x) depends only on
(y, x-1), (y-1, x) and (y-1, x-1), so all pixels with the same y + x are reconstructed in one
vectorised step (H + W - 1 steps instead of H * W).
"""

from __future__ import annotations

import struct
import zlib

import numpy as np

from attnsr.errors import ImageError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: zlib level when the caller gives none (Pillow's and libpng's usual default)
DEFAULT_LEVEL = 6
_CHANNELS = {0: 1, 2: 3, 4: 2, 6: 4}  # PNG colour type -> samples per pixel


def header(data: bytes) -> tuple[int, int, int, int, int] | None:
    """(width, height, bit_depth, colour_type, interlace) from a PNG's IHDR, or None if not a PNG."""
    if len(data) < 33 or not data.startswith(SIGNATURE) or data[12:16] != b"IHDR":
        return None
    width, height, depth, ctype, _comp, _filt, interlace = struct.unpack(">IIBBBBB", data[16:29])
    return width, height, depth, ctype, interlace


def handles(data: bytes) -> bool:
    """True for PNGs this module decodes (16-bit, non-interlaced, colour type 0/2/4/6)."""
    h = header(data)
    return h is not None and h[2] == 16 and h[3] in _CHANNELS and h[4] == 0


def _chunks(data: bytes):
    pos = len(SIGNATURE)
    while pos + 8 <= len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        kind = data[pos + 4:pos + 8]
        body = data[pos + 8:pos + 8 + length]
        if len(body) != length:
            raise ImageError("truncated PNG chunk")
        yield kind, body
        if kind == b"IEND":
            return
        pos += 12 + length
    raise ImageError("truncated PNG (no IEND chunk)")


def _unfilter(filtered: np.ndarray, ftypes: np.ndarray) -> np.ndarray:
    """Undo PNG filters. ``filtered``: (H, W, bpp) uint8 bytes; ``ftypes``: (H,) filter type per row."""
    if np.any(ftypes > 4):
        raise ImageError(f"invalid PNG filter type {int(ftypes.max())}")
    h, w, bpp = filtered.shape
    recon = np.zeros((h + 1, w + 1, bpp), dtype=np.int32)  # row 0 / column 0 are the zero border
    f32 = filtered.astype(np.int32)
    for d in range(h + w - 1):
        ys = np.arange(max(0, d - w + 1), min(h - 1, d) + 1)
        xs = d - ys
        f = f32[ys, xs]
        a, b, c = recon[ys + 1, xs], recon[ys, xs + 1], recon[ys, xs]
        p = a + b - c
        pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
        paeth = np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))
        t = ftypes[ys][:, None]
        pred = np.select([t == 1, t == 2, t == 3, t == 4], [a, b, (a + b) // 2, paeth], 0)
        recon[ys + 1, xs + 1] = (f + pred) & 0xFF
    return recon[1:, 1:].astype(np.uint8)


def decode(data: bytes) -> np.ndarray:
    """Decode a PNG accepted by :func:`handles` to (H, W, C) uint16. Raises ImageError when corrupt."""
    head = header(data)
    if head is None:
        raise ImageError("not a PNG this decoder reads (see handles())")
    width, height, _depth, ctype, _ = head
    idat = b"".join(body for kind, body in _chunks(data) if kind == b"IDAT")
    try:
        raw = zlib.decompress(idat)
    except zlib.error as exc:
        raise ImageError(f"corrupt PNG image data ({exc})") from None
    channels = _CHANNELS[ctype]
    stride = width * channels * 2
    if len(raw) < height * (stride + 1):
        raise ImageError("truncated PNG image data")
    rows = np.frombuffer(raw, dtype=np.uint8, count=height * (stride + 1)).reshape(height, stride + 1)
    pixels = _unfilter(rows[:, 1:].reshape(height, width, channels * 2), rows[:, 0])
    big_endian = pixels.reshape(height, width * channels * 2).view(">u2")
    return big_endian.astype(np.uint16).reshape(height, width, channels)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def encode(pixels: np.ndarray, level: int = DEFAULT_LEVEL) -> bytes:
    """Encode (H, W) or (H, W, C) uint16 (C = 1, 2, 3, 4) as a 16-bit PNG (filter 0, zlib ``level``)."""
    if pixels.ndim == 2:
        pixels = pixels[:, :, None]
    h, w, c = pixels.shape
    ctype = {1: 0, 2: 4, 3: 2, 4: 6}[c]
    rows = np.ascontiguousarray(pixels.astype(">u2")).view(np.uint8).reshape(h, w * c * 2)
    raw = np.concatenate([np.zeros((h, 1), dtype=np.uint8), rows], axis=1).tobytes()
    ihdr = struct.pack(">IIBBBBB", w, h, 16, ctype, 0, 0, 0)
    return SIGNATURE + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw, level)) + _chunk(b"IEND", b"")
