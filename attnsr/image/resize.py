"""MATLAB-compatible bicubic ``imresize`` and ``modcrop`` for numpy arrays and torch tensors.

SR benchmarks make LR images with MATLAB ``imresize(HR, 1/s, 'bicubic')``; a different resampler shifts
PSNR by tenths of a dB, so this is a faithful re-implementation of MATLAB's algorithm (R2017+ source):

* Keys cubic kernel with a = -0.5, support 4 input pixels;
* when shrinking (scale < 1) the kernel is stretched by 1/scale and scaled by scale (antialiasing),
  so the support becomes 4/scale input pixels;
* output pixel x (1-based) samples input position u = x/scale + 0.5*(1 - 1/scale); taps
  floor(u - width/2) + 0 .. ceil(width)+1, weights normalised to sum 1 per output pixel;
* out-of-range taps are mirrored with the edge pixel repeated (MATLAB ``aux = [1:n, n:-1:1]``,
  i.e. symmetric padding; MATLAB before ~R2017 clamped instead);
* output size ceil(in * scale); given an output size, scale = out / in per dimension;
* separable: the dimension with the smaller scale factor is resized first (rows on a tie);
* uint8 input is computed in double, and each 1-D pass is rounded half away from zero and saturated
  to uint8, because MATLAB's ``imresizemex`` returns the input class after *each* dimension.

Weights and indices are precomputed per (in, out, scale) and applied with one gather and a weighted
sum per dimension: no per-pixel Python, differentiable on float tensors, any device, any batch shape.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import torch

from attnsr.errors import ConfigError, ImageError

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor)

_KERNEL_WIDTH = 4.0  # bicubic support in input pixels at scale 1


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB ``cubic``), float64, support |x| <= 2."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    near = (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1)
    far = (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * ((ax > 1) & (ax <= 2))
    return near + far


@functools.lru_cache(maxsize=256)
def contributions(in_length: int, out_length: int, scale: float,
                  antialiasing: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB ``contributions``: per output pixel, the input taps and their weights along one dimension.

    Returns ``(weights, indices)``, both (out_length, P): float64 weights summing to 1 per row and
    0-based int64 input indices already mirrored into [0, in_length). Columns whose weights are all
    zero are dropped, as MATLAB does. Cached, so treat the arrays as read-only.
    """
    kernel: Callable[[np.ndarray], np.ndarray]
    if scale < 1 and antialiasing:
        width = _KERNEL_WIDTH / scale

        def kernel(t: np.ndarray) -> np.ndarray:
            return scale * cubic(scale * t)
    else:
        width = _KERNEL_WIDTH
        kernel = cubic
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    idx = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]  # 1-based
    weights = kernel(u[:, None] - idx)
    weights = weights / weights.sum(axis=1, keepdims=True)
    period = 2 * in_length
    m = np.mod(idx.astype(np.int64) - 1, period)  # 0-based position in [1..n, n..1]
    idx0 = np.where(m < in_length, m, period - 1 - m)
    keep = np.any(weights != 0, axis=0)
    weights, idx0 = weights[:, keep], idx0[:, keep]
    weights.setflags(write=False)
    idx0.setflags(write=False)
    return weights, idx0


def output_shape(in_hw: tuple[int, int], scale: float | None = None,
                 size: tuple[int, int] | None = None) -> tuple[tuple[int, int], tuple[float, float]]:
    """Output (H, W) and per-dimension scale, as MATLAB ``fixupSizeAndScale`` derives them.

    Exactly one of ``scale`` (output = ceil(in * scale), in double precision like MATLAB) and ``size``
    (scale = out / in per dimension) must be given.
    """
    if (scale is None) == (size is None):
        raise ConfigError("imresize: give exactly one of scale or size")
    h, w = in_hw
    if h < 1 or w < 1:
        raise ImageError(f"imresize: cannot resize an empty image of size {h}x{w}")
    if scale is not None:
        if not scale > 0 or not math.isfinite(scale):
            raise ConfigError(f"imresize: scale must be positive and finite, got {scale}")
        out = (int(math.ceil(float(scale) * h)), int(math.ceil(float(scale) * w)))
        return out, (float(scale), float(scale))
    assert size is not None  # exactly one of the two, checked above
    oh, ow = int(size[0]), int(size[1])
    if oh < 1 or ow < 1:
        raise ConfigError(f"imresize: output size must be positive, got {size}")
    return (oh, ow), (oh / h, ow / w)


def _round_uint8(x: np.ndarray | torch.Tensor) -> np.ndarray | torch.Tensor:
    """Round half away from zero and saturate to [0, 255], as MATLAB's cast to uint8 does."""
    if isinstance(x, torch.Tensor):
        return torch.floor(x + 0.5).clamp_(0, 255)
    return np.clip(np.floor(x + 0.5), 0, 255)


def _resize_numpy_axis(img: np.ndarray, axis: int, weights: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """One 1-D pass along ``axis`` of a float64 array: gather the taps and take their weighted sum."""
    moved = np.moveaxis(img, axis, 0)
    gathered = moved[idx]  # (out, P, ...rest)
    w = weights.reshape(weights.shape + (1,) * (moved.ndim - 1))
    return np.moveaxis((gathered * w).sum(axis=1), 0, axis)


def _resize_torch_axis(img: torch.Tensor, dim: int, weights: np.ndarray, idx: np.ndarray) -> torch.Tensor:
    """One 1-D pass along ``dim`` (-2 rows or -1 columns) of a float tensor, differentiable."""
    out_len, taps = idx.shape
    index = torch.from_numpy(np.ascontiguousarray(idx)).to(img.device).reshape(-1)
    w = torch.from_numpy(np.ascontiguousarray(weights)).to(device=img.device, dtype=img.dtype)
    gathered = img.index_select(dim, index)
    if dim == -2:
        gathered = gathered.unflatten(-2, (out_len, taps))  # (..., out, P, W)
        return (gathered * w[:, :, None]).sum(dim=-2)
    gathered = gathered.unflatten(-1, (out_len, taps))  # (..., H, out, P)
    return (gathered * w).sum(dim=-1)


def imresize(img: ArrayOrTensor, scale: float | None = None, *, size: tuple[int, int] | None = None,
             antialiasing: bool = True) -> ArrayOrTensor:
    """Bicubic resize identical to MATLAB ``imresize(img, scale_or_size, 'bicubic')``.

    ``img``: numpy (H, W) or (H, W, C) — uint8 (0-255, result rounded/saturated to uint8 after each
    1-D pass like MATLAB) or float (any range, float64 math, result float64) — or a torch tensor
    (..., H, W): floating point keeps its dtype/device and stays differentiable; uint8 tensors are
    treated like uint8 arrays. ``scale``: any positive factor (e.g. 1/3, 2.5); ``size``: (H, W).
    No clamping of float results (bicubic overshoots slightly outside the input range).
    """
    is_tensor = isinstance(img, torch.Tensor)
    src: Any = img  # one body for both constraints of ArrayOrTensor; each branch keeps to its kind
    if is_tensor:
        if src.dim() < 2:
            raise ImageError(f"imresize: expected a tensor (..., H, W), got shape {tuple(src.shape)}")
        in_hw = (int(src.shape[-2]), int(src.shape[-1]))
        dims = (-2, -1)
    else:
        src = np.asarray(src)
        if src.ndim not in (2, 3):
            raise ImageError(f"imresize: expected an array (H, W) or (H, W, C), got shape {src.shape}")
        in_hw = (int(src.shape[0]), int(src.shape[1]))
        dims = (0, 1)
    out_hw, scales = output_shape(in_hw, scale, size)
    integer = (src.dtype == torch.uint8) if is_tensor else (src.dtype == np.uint8)
    if integer:
        work: Any = src.double() if is_tensor else src.astype(np.float64)
    elif is_tensor:
        if not src.is_floating_point():
            raise ImageError(f"imresize: unsupported tensor dtype {src.dtype} (use float or uint8)")
        work = src
    else:
        work = src.astype(np.float64)
    order = (0, 1) if scales[0] <= scales[1] else (1, 0)  # smaller scale first; rows on a tie
    for k in order:
        weights, idx = contributions(in_hw[k], out_hw[k], scales[k], antialiasing)
        if is_tensor:
            work = _resize_torch_axis(work, dims[k], weights, idx)
        else:
            work = _resize_numpy_axis(work, dims[k], weights, idx)
        if integer:
            work = _round_uint8(work)
    if integer:
        return work.to(torch.uint8) if is_tensor else work.astype(np.uint8)
    return work


def modcrop(img: ArrayOrTensor, scale: int) -> ArrayOrTensor:
    """Crop the bottom/right so H and W are multiples of ``scale`` (MATLAB ``modcrop``, top-left kept).

    numpy arrays are (H, W) or (H, W, C); torch tensors are (..., H, W).
    """
    if scale < 1:
        raise ConfigError(f"modcrop: scale must be >= 1, got {scale}")
    if isinstance(img, torch.Tensor):
        h, w = img.shape[-2], img.shape[-1]
        return img[..., : h - h % scale, : w - w % scale]
    h, w = img.shape[0], img.shape[1]
    return img[: h - h % scale, : w - w % scale]
