"""What an upscale writes: its size (any output factor), its file name (suffix) and its format (ext).

As Real-ESRGAN's ``inference_realesrgan.py -s/--suffix/--ext`` are used: the model always runs at its own
scale ``s``; an output factor ``F`` other than ``s`` then resizes the model's output to
``round(F·H) × round(F·W)`` with MATLAB bicubic (:func:`attnsr.image.resize.imresize`, antialiased when
shrinking). ``F == s`` returns the model output itself. Samples keep their kind: uint8 through MATLAB's
uint8 path (rounded after each 1-D pass, as ``imresize`` on a uint8 image does), uint16 and float in
float64, then rounded half up (integers) or kept as float, clipped to the input range. Alpha is resized
with the colour channels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from attnsr.errors import ConfigError

#: ``ext`` choices; "auto" keeps the input's format where it can be written
EXTENSIONS = ("auto", "png", "jpg", "webp")
#: input suffix -> the suffix "auto" writes (formats attnsr can write; others become PNG)
_AUTO_SUFFIX = {".png": ".png", ".jpg": ".jpg", ".jpeg": ".jpg", ".webp": ".webp", ".bmp": ".bmp",
                ".tif": ".tif", ".tiff": ".tif"}
#: output suffixes whose files can hold an alpha channel
_ALPHA_SUFFIXES = {".png", ".webp", ".tif", ".bmp"}
#: largest float64 temporary (elements) one chunk of a 1-D resize pass may gather
_CHUNK_ELEMENTS = 1 << 24


def check_outscale(outscale: float | None) -> float | None:
    """``outscale`` if it is None or a positive finite number, else ConfigError naming --outscale."""
    if outscale is None:
        return None
    if not (isinstance(outscale, (int, float)) and math.isfinite(outscale) and outscale > 0):
        raise ConfigError(f"--outscale: expected a positive output factor such as 3.5, got {outscale!r}")
    return float(outscale)


def outscale_size(height: int, width: int, outscale: float) -> tuple[int, int]:
    """Output (H, W) of an LR image of ``height × width`` at factor ``outscale``: round half up, >= 1."""
    f = check_outscale(outscale)
    assert f is not None
    return max(1, math.floor(f * height + 0.5)), max(1, math.floor(f * width + 0.5))


def resize_samples(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """MATLAB-bicubic resize of image samples (H×W or H×W×C; uint8, uint16 or float in [0,1]) to ``size``.

    Equals :func:`imresize` (``size=``) for uint8; uint16 and float are resized in float64 and clipped to
    their range (uint16 rounded half up). Each 1-D pass runs in bands along the other axis, so the float64
    temporaries stay bounded for large outputs (48 MP: ~0.1 GB per band instead of several GB).
    """
    from attnsr.image.resize import _round_uint8, contributions, output_shape

    a = np.asarray(array)
    if a.ndim not in (2, 3):
        raise ValueError(f"resize_samples: expected an H×W or H×W×C array, got shape {a.shape}")
    (oh, ow), scales = output_shape(a.shape[:2], size=size)
    if (oh, ow) == a.shape[:2]:
        return a.copy()
    integer8 = a.dtype == np.uint8
    if a.dtype == np.uint16:
        maxval = 65535.0
    elif integer8:
        maxval = 255.0
    elif np.issubdtype(a.dtype, np.floating):
        maxval = 1.0
    else:
        raise ValueError(f"resize_samples: unsupported dtype {a.dtype}; use uint8, uint16 or float")
    work: np.ndarray = a.astype(np.float64)
    in_hw = a.shape[:2]
    out_hw = (oh, ow)
    for k in ((0, 1) if scales[0] <= scales[1] else (1, 0)):  # imresize's order: smaller scale first
        weights, idx = contributions(in_hw[k], out_hw[k], scales[k], True)
        work = _banded_pass(work, k, weights, idx)
        if integer8:
            work = np.asarray(_round_uint8(work))
    if integer8:
        return work.astype(np.uint8)
    work = np.clip(work, 0.0, maxval)
    if a.dtype == np.uint16:
        return np.floor(work + 0.5).astype(np.uint16)
    return work.astype(a.dtype)


def _banded_pass(work: np.ndarray, axis: int, weights: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """One 1-D resize pass along ``axis`` (0 rows, 1 columns), in bands along the other spatial axis."""
    from attnsr.image.resize import _resize_numpy_axis

    other = 1 - axis
    per_line = idx.size * int(np.prod(work.shape[2:], dtype=np.int64))  # gathered elements per line
    band = max(1, _CHUNK_ELEMENTS // max(per_line, 1))
    n = work.shape[other]
    shape = list(work.shape)
    shape[axis] = idx.shape[0]
    out = np.empty(shape, dtype=np.float64)
    for start in range(0, n, band):
        sl = [slice(None)] * work.ndim
        sl[other] = slice(start, min(n, start + band))
        out[tuple(sl)] = _resize_numpy_axis(work[tuple(sl)], axis, weights, idx)
    return out


def upscale_to(engine: Any, array: np.ndarray, outscale: float | None = None, *,
               progress: Callable[[int], object] | None = None) -> np.ndarray:
    """Upscale ``array`` with ``engine`` (an :class:`~attnsr.infer.engine.Upscaler`) at the model's scale,
    then resize to factor ``outscale`` (None: the model's scale). Same dtype and channels as the input."""
    f = check_outscale(outscale)
    sr = engine.upscale_array(array, progress=progress)
    if f is None:
        return sr
    size = outscale_size(array.shape[0], array.shape[1], f)
    return sr if sr.shape[:2] == size else resize_samples(sr, size)


def output_suffix(src: Path, ext: str, bit_depth: int = 8) -> str:
    """The file suffix to write for ``src`` under ``--ext`` (``auto``: the input's format where attnsr
    writes it, PNG otherwise; a 16-bit input stays PNG under auto, the only 16-bit format written)."""
    if ext not in EXTENSIONS:
        raise ConfigError(f"--ext: expected one of {', '.join(EXTENSIONS)}, got {ext!r}")
    if ext != "auto":
        return "." + ext
    suffix = _AUTO_SUFFIX.get(src.suffix.lower(), ".png")
    return ".png" if bit_depth == 16 else suffix


def output_name(src: Path, *, scale_label: str, suffix: str | None, ext: str, bit_depth: int = 8) -> str:
    """``<stem>_<suffix><.ext>``; ``suffix`` None: ``x<scale_label>`` (``photo_x2.png``, ``photo_x3.5.jpg``);
    an empty suffix gives the input's stem alone."""
    tag = f"x{scale_label}" if suffix is None else suffix
    if any(c in tag for c in "/\\\0"):
        raise ConfigError(f"--suffix: must not contain a path separator, got {tag!r}")
    stem = f"{src.stem}_{tag}" if tag else src.stem
    return stem + output_suffix(src, ext, bit_depth)


def scale_label(factor: float) -> str:
    """``2`` for 2.0, ``3.5`` for 3.5: the factor as it appears in default output names."""
    return f"{factor:g}"


def fit_format(array: np.ndarray, suffix: str) -> tuple[np.ndarray, list[str]]:
    """Samples ready for a file of ``suffix``, and one note per thing the format cannot hold: 16 bits
    outside PNG are reduced to 8 (rounded), alpha is dropped where the format has none (JPEG)."""
    from attnsr.image.io import WRITE_FORMATS

    notes: list[str] = []
    s = suffix.lower()
    name = WRITE_FORMATS.get(s, s[1:].upper())
    if array.dtype == np.uint16 and s != ".png":
        array = np.floor(array.astype(np.float64) * (255.0 / 65535.0) + 0.5).astype(np.uint8)
        notes.append(f"{name} holds 8 bits per sample: 16-bit output reduced to 8 bits")
    if array.ndim == 3 and array.shape[2] in (2, 4) and s not in _ALPHA_SUFFIXES:
        array = array[..., :-1]
        notes.append(f"{name} has no alpha channel: alpha dropped")
    return array, notes
