"""BT.601 "studio swing" YCbCr exactly as MATLAB ``rgb2ycbcr`` / ``ycbcr2rgb`` compute it.

SR papers report PSNR/SSIM on this Y (16..235 on the 0-255 scale), not on full-range luma (kornia's Y is
full-range and would give different numbers).

Range convention: the output is on the scale of the input, like MATLAB on doubles:
* float input in [0, 1] -> Y in [16/255, 235/255] (MATLAB ``rgb2ycbcr`` on ``im2double`` images);
* numpy uint8 input (0-255) -> float64 Y in [16, 235], *not rounded* (MATLAB would round to uint8 here;
  the SR protocol of BasicSR and of most seed papers keeps it unrounded).
The metrics multiply [0, 1] Y by 255 and work in float64.

Layouts: torch tensors are channel-first (..., 3, H, W); numpy arrays are channel-last (..., 3).
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch

from attnsr.errors import ImageError

ArrayOrTensor = TypeVar("ArrayOrTensor", np.ndarray, torch.Tensor)

#: rows Y, Cb, Cr; applied to R, G, B in [0, 1] giving values on the 0-255 scale (ITU-R BT.601)
BT601_MATRIX = np.array(
    [
        [65.481, 128.553, 24.966],
        [-37.797, -74.203, 112.0],
        [112.0, -93.786, -18.214],
    ],
    dtype=np.float64,
)
#: offsets on the 0-255 scale
BT601_OFFSET = np.array([16.0, 128.0, 128.0], dtype=np.float64)


def _range_of(x: np.ndarray | torch.Tensor) -> float:
    """255 for uint8 data (values 0-255), 1 for floating data (values in [0, 1])."""
    if isinstance(x, torch.Tensor):
        return 255.0 if x.dtype == torch.uint8 else 1.0
    return 255.0 if x.dtype == np.uint8 else 1.0


def _check_channels(x: np.ndarray | torch.Tensor, fn: str) -> None:
    if isinstance(x, torch.Tensor):
        if x.dim() < 3 or x.shape[-3] != 3:
            raise ImageError(f"{fn}: expected a tensor (..., 3, H, W), got shape {tuple(x.shape)}")
    elif x.ndim < 1 or x.shape[-1] != 3:
        raise ImageError(f"{fn}: expected an array (..., 3) (channel-last), got shape {x.shape}")


def _affine(x: ArrayOrTensor, matrix: np.ndarray, offset: np.ndarray) -> ArrayOrTensor:
    """out_c = sum_k matrix[c, k] * x_k + offset[c] over the channel axis (-3 torch, -1 numpy)."""
    if isinstance(x, torch.Tensor):
        dtype = x.dtype if x.is_floating_point() else torch.float64
        xf = x.to(dtype)
        m = torch.as_tensor(matrix, dtype=dtype, device=x.device)
        o = torch.as_tensor(offset, dtype=dtype, device=x.device)
        out = torch.einsum("ck,...khw->...chw", m, xf)
        return out + o[:, None, None]
    xf = np.asarray(x, dtype=np.float64)
    return xf @ matrix.T + offset


def rgb_to_y(x: ArrayOrTensor) -> ArrayOrTensor:
    """BT.601 luma Y = 16 + 65.481 R + 128.553 G + 24.966 B (R, G, B in [0, 1]; result / 255 for float
    input). Returns (..., 1, H, W) for tensors and (...,) (channel axis dropped) for arrays."""
    _check_channels(x, "rgb_to_y")
    r = _range_of(x)
    y = _affine(x, BT601_MATRIX[:1] / 255.0, BT601_OFFSET[:1] * (r / 255.0))
    return y if isinstance(x, torch.Tensor) else y[..., 0]


def rgb_to_ycbcr(x: ArrayOrTensor) -> ArrayOrTensor:
    """MATLAB ``rgb2ycbcr`` on doubles (float [0, 1] in -> [0, 1]-scaled YCbCr out; uint8 in -> float64
    on 0-255, unrounded). Channel axis -3 for tensors, -1 for arrays."""
    _check_channels(x, "rgb_to_ycbcr")
    r = _range_of(x)
    return _affine(x, BT601_MATRIX / 255.0, BT601_OFFSET * (r / 255.0))


def ycbcr_to_rgb(x: ArrayOrTensor) -> ArrayOrTensor:
    """Inverse of :func:`rgb_to_ycbcr` (MATLAB ``ycbcr2rgb`` on doubles: the exact matrix inverse),
    unclamped; same range convention and layout as the forward transform."""
    _check_channels(x, "ycbcr_to_rgb")
    r = _range_of(x)
    inverse = np.linalg.inv(BT601_MATRIX / 255.0)
    return _affine(x, inverse, -inverse @ (BT601_OFFSET * (r / 255.0)))
