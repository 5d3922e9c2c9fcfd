"""Shared input handling of the MATLAB-protocol metrics: quantise, crop the border, pick Y or RGB."""

from __future__ import annotations

import numpy as np
import torch

from attnsr.errors import ImageError
from attnsr.image.color import rgb_to_y
from attnsr.image.io import to_uint8

ImageLike = torch.Tensor | np.ndarray


def as_uint8_hwc(img: ImageLike, name: str) -> np.ndarray:
    """(C, H, W) / (1, C, H, W) float tensor in [0, 1], or uint8/float array (H, W[, C]) -> uint8 (H, W, C).

    Floats are clamped to [0, 1] and rounded half up to 8-bit levels first: papers evaluate saved PNGs.
    """
    if isinstance(img, torch.Tensor):
        t = img.squeeze(0) if img.dim() == 4 and img.shape[0] == 1 else img
        if t.dim() != 3 or t.shape[0] not in (1, 3):
            raise ImageError(f"{name}: expected a tensor (C, H, W) with C in (1, 3), got {tuple(img.shape)}")
        if t.dtype == torch.uint8:
            return np.ascontiguousarray(t.permute(1, 2, 0).cpu().numpy())
        return to_uint8(t)
    a = np.asarray(img)
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[-1] not in (1, 3):
        raise ImageError(f"{name}: expected an array (H, W) or (H, W, C) with C in (1, 3), got {a.shape}")
    if a.dtype == np.uint8:
        return a
    if np.issubdtype(a.dtype, np.floating):
        return np.floor(np.clip(a.astype(np.float64), 0, 1) * 255.0 + 0.5).astype(np.uint8)
    raise ImageError(f"{name}: unsupported array dtype {a.dtype} (use uint8 or float in [0, 1])")


def prepare_pair(sr: ImageLike, hr: ImageLike, crop_border: int, test_y: bool) -> tuple[np.ndarray, np.ndarray]:
    """Both images as float64 (H, W, C) on the 0-255 scale, border-cropped, Y (unrounded) if ``test_y``
    and the images have 3 channels; single-channel images are used as they are."""
    a, b = as_uint8_hwc(sr, "sr"), as_uint8_hwc(hr, "hr")
    if a.shape != b.shape:
        raise ImageError(f"metric: sr shape {a.shape} (H, W, C) differs from hr shape {b.shape}")
    if crop_border < 0 or 2 * crop_border >= min(a.shape[0], a.shape[1]):
        raise ImageError(f"metric: crop_border {crop_border} is invalid for an image of {a.shape[:2]}")
    if crop_border:
        a = a[crop_border:-crop_border, crop_border:-crop_border]
        b = b[crop_border:-crop_border, crop_border:-crop_border]
    if test_y and a.shape[-1] == 3:
        return rgb_to_y(a)[..., None], rgb_to_y(b)[..., None]
    return a.astype(np.float64), b.astype(np.float64)
