"""Reading and writing image files: the only place where uint8/uint16, HWC and file formats appear.

Inside the library an image is a float32 tensor (3, H, W), RGB in [0, 1]. ``load_image`` also keeps
what is needed to write the result back the way it came: whether the source was grayscale, its alpha
channel and its bit depth. Bad files raise :class:`ImageError` with one line naming the file.

Formats: PNG, BMP, JPEG, TIFF, WebP (whatever Pillow reads), with EXIF orientation applied. 16-bit
grayscale comes through Pillow; 16-bit RGB/RGBA/grey+alpha PNGs through :mod:`attnsr.image.png16`
(Pillow would truncate them to 8 bits). Writing is atomic: a temp file in the target folder, then
``os.replace``, so an interrupted run never leaves a half-written image.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

from attnsr.atomic import atomic_path
from attnsr.errors import ConfigError, ImageError
from attnsr.image import png16

DEFAULT_MAX_PIXELS = 200_000_000
#: suffixes (any case) of the files taken as images when a folder is read: training and validation data,
#: evaluation and scoring datasets
IMAGE_SUFFIXES = (".png", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".ppm")
#: file suffix -> Pillow format name for writing
WRITE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".bmp": "BMP",
                 ".tif": "TIFF", ".tiff": "TIFF"}
_GRAY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}


def list_images(folder: str | os.PathLike[str], *, what: str | None = None) -> list[Path]:
    """Image files (:data:`IMAGE_SUFFIXES`) directly inside ``folder``, sorted by name. A missing folder or
    one without images is a :class:`ConfigError` naming ``what`` (the config key or option, when given)
    and the folder."""
    p = Path(folder)
    where = f"{what}: {p}" if what else str(p)
    if not p.is_dir():
        raise ConfigError(f"{where}: not a folder")
    files = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES and f.is_file())
    if not files:
        raise ConfigError(f"{where}: holds no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


@dataclass(frozen=True)
class LoadedImage:
    """A decoded image. ``rgb``: float32 (3, H, W) in [0, 1] (grayscale replicated to 3 channels);
    ``alpha``: float32 (1, H, W) in [0, 1] or None; ``gray``: the file was single-channel;
    ``bit_depth``: 8 or 16 (bits per sample in the file); ``path``: where it came from."""

    rgb: torch.Tensor
    alpha: torch.Tensor | None
    gray: bool
    bit_depth: int
    path: Path
    #: what was not kept, to announce (e.g. the frames of an animated GIF after the first)
    notes: tuple[str, ...] = ()

    def as_array(self) -> np.ndarray:
        """The file's samples again: uint8/uint16 (H, W) gray, (H, W, 2) gray+alpha, (H, W, 3) or
        (H, W, 4) — exact, since ``rgb``/``alpha`` hold value / (2^bits − 1)."""
        maxval = 65535.0 if self.bit_depth == 16 else 255.0
        planes = [self.rgb[:1] if self.gray else self.rgb]
        if self.alpha is not None:
            planes.append(self.alpha)
        q = torch.floor(torch.cat(planes).to(torch.float64) * maxval + 0.5)
        a = np.moveaxis(q.numpy().astype(np.uint16 if self.bit_depth == 16 else np.uint8), 0, -1)
        return np.ascontiguousarray(a[..., 0] if a.shape[-1] == 1 else a)


def to_uint8(t: torch.Tensor) -> np.ndarray:
    """[0, 1] float tensor (C, H, W) or (H, W) -> uint8 numpy (H, W, C) or (H, W).

    Clamps to [0, 1], then rounds x*255 half up (MATLAB ``im2uint8``; on [0, 255] half up equals half
    away from zero). Not ``torch.round``, which rounds half to even.
    """
    a = torch.floor(t.detach().to(torch.float64).clamp(0, 1) * 255.0 + 0.5).to(torch.uint8).cpu().numpy()
    return np.ascontiguousarray(np.moveaxis(a, 0, -1)) if a.ndim == 3 else a


def from_uint8(a: np.ndarray) -> torch.Tensor:
    """uint8 numpy (H, W) or (H, W, C) -> float32 tensor (C, H, W) in [0, 1] (value / 255)."""
    a = np.asarray(a)
    if a.dtype != np.uint8:
        raise ImageError(f"from_uint8: expected a uint8 array, got {a.dtype}")
    if a.ndim == 2:
        a = a[:, :, None]
    return torch.from_numpy(np.ascontiguousarray(np.moveaxis(a, -1, 0))).float().div_(255.0)


def _check_file(path: Path) -> bytes:
    if not path.exists():
        raise ImageError(f"{path}: no such file")
    if path.is_dir():
        raise ImageError(f"{path}: is a directory, not an image")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImageError(f"{path}: cannot read ({exc.strerror or exc})") from None
    if not data:
        raise ImageError(f"{path}: empty file (0 bytes)")
    return data


def _check_pixels(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width * height > max_pixels:
        raise ImageError(f"{path}: {width}x{height} = {width * height} pixels exceeds the limit of "
                         f"{max_pixels} (possible decompression bomb; raise max_pixels if it is genuine)")


def _split(pixels: np.ndarray, scale: float, gray: bool, bit_depth: int, path: Path) -> LoadedImage:
    """(H, W, C) integer samples with C = 1 (gray), 2 (gray+alpha), 3 (RGB), 4 (RGBA) -> LoadedImage."""
    t = torch.from_numpy(np.moveaxis(pixels.astype(np.float32) / scale, -1, 0).copy())
    color, alpha = (t[:-1], t[-1:]) if t.shape[0] in (2, 4) else (t, None)
    if color.shape[0] == 1:
        color = color.expand(3, -1, -1).clone()
    return LoadedImage(rgb=color.clamp_(0, 1), alpha=alpha, gray=gray, bit_depth=bit_depth, path=path)


def _from_pillow(im: Image.Image, path: Path) -> LoadedImage:
    """Map Pillow's modes onto (samples, scale, gray, bit depth)."""
    mode = im.mode
    gray = mode in _GRAY_MODES
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        a = np.asarray(im).astype(np.float64)
        if mode == "I" and (a.min() < 0 or a.max() > 65535):
            raise ImageError(f"{path}: unsupported 32-bit integer image (values outside 0..65535)")
        return _split(a[:, :, None], 65535.0, True, 16, path)
    if mode == "F":
        a = np.asarray(im).astype(np.float64)
        return _split(a[:, :, None], 1.0 if a.max() <= 1.0 else 255.0, True, 8, path)
    if mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    elif mode == "1":
        im = im.convert("L")
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        im = im.convert("RGBA" if ("A" in mode or "a" in mode) else "RGB")
    a = np.asarray(im)
    if a.ndim == 2:
        a = a[:, :, None]
    return _split(a, 255.0, gray, 8, path)


_limit_lock = threading.Lock()
_limit_active: list[int] = []
_limit_saved: list[int | None] = []


@contextmanager
def _pillow_open(path: Path, max_pixels: int) -> Iterator[Image.Image]:
    """``Image.open(path)`` under the ``max_pixels`` limit; whatever Pillow raises while the block reads
    the image becomes one :class:`ImageError` naming the file (our own ImageErrors pass through)."""
    try:
        with warnings.catch_warnings(), _pillow_limit(max_pixels):
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                yield im
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageError(f"{path}: too many pixels (possible decompression bomb: {exc})") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image file (or an unsupported format)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{path}: cannot read image ({exc})") from None


@contextmanager
def _pillow_limit(max_pixels: int) -> Iterator[None]:
    """Make Pillow's decompression-bomb limit follow ``max_pixels`` while we decode (its own default,
    about 179 MP, would otherwise refuse images the caller allowed). Pillow's limit is process-wide: it is
    raised to the largest limit of the loads in progress and restored when the last one ends."""
    with _limit_lock:
        if not _limit_active:
            _limit_saved[:] = [Image.MAX_IMAGE_PIXELS]
        _limit_active.append(max_pixels)
        Image.MAX_IMAGE_PIXELS = max(_limit_active)  # Pillow refuses above twice this; ours at once
    try:
        yield
    finally:
        with _limit_lock:
            _limit_active.remove(max_pixels)
            Image.MAX_IMAGE_PIXELS = max(_limit_active) if _limit_active else _limit_saved[0]


def image_size(path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> tuple[int, int]:
    """(width, height) of an image file from its header, without decoding the pixels (ImageError as
    :func:`load_image` for files it would refuse)."""
    path = Path(path)
    if not path.is_file():
        _check_file(path)
    with open(path, "rb") as fh:
        head = png16.header(fh.read(64))
    if head is not None:
        return head[0], head[1]
    with _pillow_open(path, max_pixels) as im:
        return im.width, im.height


def load_image(path: str | os.PathLike, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> LoadedImage:
    """Read an image file into the library's convention (see :class:`LoadedImage`).

    Raises ImageError (one line, naming the file) when the file is missing, empty, truncated, not an
    image, or larger than ``max_pixels`` (checked from the header, before decoding).
    """
    path = Path(path)
    data = _check_file(path)
    head = png16.header(data)
    if head is not None and png16.handles(data):
        _check_pixels(path, head[0], head[1], max_pixels)
        try:
            pixels = png16.decode(data)
        except (ValueError, IndexError) as exc:
            raise ImageError(f"{path}: cannot read image ({exc})") from None
        return _split(pixels, 65535.0, pixels.shape[-1] <= 2, 16, path)
    with _pillow_open(path, max_pixels) as im:
        _check_pixels(path, im.width, im.height, max_pixels)
        frames = int(getattr(im, "n_frames", 1) or 1)
        im.load()
        loaded = _from_pillow(ImageOps.exif_transpose(im), path)
        if frames > 1:
            loaded = replace(loaded, notes=(f"{path}: has {frames} frames (animated); only the first is used",))
        return loaded


def read_rgb(path: str | os.PathLike) -> torch.Tensor:
    """The image at ``path`` as float32 RGB (3, H, W) in [0, 1] (alpha dropped, gray replicated)."""
    return load_image(path).rgb


def _samples(rgb: torch.Tensor, alpha: torch.Tensor | None, gray: bool, path: Path) -> torch.Tensor:
    """Stack the channels to write: (C, H, W) with C = 1/2 (gray [+alpha]) or 3/4 (RGB [+alpha])."""
    if rgb.dim() != 3 or rgb.shape[0] not in (1, 3):
        raise ImageError(f"{path}: expected an image tensor (3, H, W), got shape {tuple(rgb.shape)}")
    color = rgb.detach().float().cpu()
    if gray:
        color = color.mean(dim=0, keepdim=True)  # the channels of a gray source are (nearly) equal
    elif color.shape[0] == 1:
        color = color.expand(3, -1, -1)
    if alpha is None:
        return color
    alpha = alpha.detach().float().cpu()
    if alpha.dim() == 2:
        alpha = alpha.unsqueeze(0)
    if tuple(alpha.shape) != (1,) + tuple(color.shape[1:]):
        raise ImageError(f"{path}: alpha shape {tuple(alpha.shape)} does not match image "
                         f"{tuple(color.shape[1:])}")
    return torch.cat([color, alpha], dim=0)


def save_image(path: str | os.PathLike, rgb: torch.Tensor, *, alpha: torch.Tensor | None = None,
               gray: bool = False, bit_depth: int = 8, quality: int = 95) -> Path:
    """Write ``rgb`` (float (3, H, W) in [0, 1], clamped) to ``path``; the suffix picks the format.

    ``alpha`` (1, H, W) is stored where the format allows (dropped for JPEG); ``gray`` writes one
    channel (the mean of R, G, B); ``bit_depth`` 16 is PNG only; ``quality`` is for JPEG/WebP.
    Atomic: written to a temp file in the same folder, then renamed over ``path``. Parent folders
    are created. Returns the path written.
    """
    path = Path(path)
    samples = _samples(rgb, alpha, gray, path)
    if bit_depth == 16:
        q = torch.floor(samples.to(torch.float64).clamp(0, 1) * 65535.0 + 0.5).to(torch.int32)
        array = np.ascontiguousarray(np.moveaxis(q.numpy().astype(np.uint16), 0, -1))
    elif bit_depth == 8:
        array = to_uint8(samples)
    else:
        raise ImageError(f"{path}: bit_depth must be 8 or 16, got {bit_depth}")
    return save_array(path, array, quality=quality)


def _write_atomic(path: Path, fmt: str, encoded: bytes | Image.Image, quality: int, png_level: int) -> Path:
    """Write encoded bytes or a Pillow image to a temp file beside ``path``, then rename it over ``path``."""
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            if isinstance(encoded, bytes):
                fh.write(encoded)
            else:
                options = {"JPEG": {"quality": int(quality)}, "WEBP": {"quality": int(quality)},
                           "PNG": {"compress_level": png_level}}.get(fmt, {})
                encoded.save(fh, format=fmt, **options)
    except (OSError, ValueError) as exc:
        raise ImageError(f"{path}: cannot write image ({exc})") from None
    return path


def save_array(path: str | os.PathLike, array: np.ndarray, *, quality: int = 95,
               png_compression: int = png16.DEFAULT_LEVEL) -> Path:
    """Write integer samples as they are (the engine's output): uint8 or uint16 (PNG only), shaped
    (H, W), (H, W, 2) gray+alpha, (H, W, 3) or (H, W, 4). Atomic like :func:`save_image`.

    ``png_compression``: zlib level 0-9 of PNG output (lossless at every level; 1 writes a 4-MP photo
    about 5x faster than 6 for an 8-15% larger file, see docs/benchmarks.md)."""
    path = Path(path)
    if not 0 <= png_compression <= 9:
        raise ImageError(f"{path}: PNG compression level must be 0-9, got {png_compression}")
    fmt = WRITE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ImageError(f"{path}: unsupported output format {path.suffix!r}; use one of "
                         f"{', '.join(sorted(WRITE_FORMATS))}")
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.dtype == np.uint16:
        if fmt != "PNG":
            raise ImageError(f"{path}: 16-bit output is only supported for PNG")
        encoded: bytes | Image.Image = png16.encode(array if array.ndim == 3 else array[..., None],
                                                     png_compression)
    elif array.dtype == np.uint8:
        a = array
        if fmt == "JPEG" and a.ndim == 3 and a.shape[-1] in (2, 4):
            a = a[..., :-1]  # JPEG has no alpha channel: dropped
        encoded = Image.fromarray(a)
    else:
        raise ImageError(f"{path}: save_array takes uint8 or uint16 samples, got {array.dtype}")
    return _write_atomic(path, fmt, encoded, quality, png_compression)
