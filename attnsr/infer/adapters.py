"""Image adapters of the engine: numpy arrays (H×W, H×W×C; uint8, uint16 or float in [0,1]) and PIL images
to and from the (3,H,W) float planes the network sees (alpha and grayscale split off)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from attnsr.errors import ImageError


def _quantise(values: np.ndarray, dtype: np.dtype, maxval: float) -> np.ndarray:
    if np.issubdtype(dtype, np.integer):
        return np.floor(values * maxval + 0.5).astype(dtype)
    return values.astype(dtype)


def split_array(array: np.ndarray) -> tuple[torch.Tensor, torch.Tensor | None, bool, float]:
    """An H×W(×C) array -> (rgb (3,H,W) float [0,1], alpha (1,H,W) or None, is_gray, integer max)."""
    if array.dtype == np.uint8:
        maxval = 255.0
    elif array.dtype == np.uint16:
        maxval = 65535.0
    elif np.issubdtype(array.dtype, np.floating):
        maxval = 1.0
    else:
        raise ImageError(f"unsupported array dtype {array.dtype}; use uint8, uint16 or float in [0,1]")
    a = array[:, :, None] if array.ndim == 2 else array
    if a.ndim != 3 or a.shape[2] not in (1, 2, 3, 4):
        raise ImageError(f"expected an H×W or H×W×{{1,2,3,4}} array, got shape {array.shape}")
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ImageError(f"empty image array (shape {array.shape})")
    if maxval == 1.0:
        lo, hi = float(np.min(a)), float(np.max(a))
        if not (0.0 <= lo and hi <= 1.0):  # also catches NaN
            raise ImageError(f"float image array must hold values in [0, 1], found [{lo:g}, {hi:g}] "
                             "(divide 8-bit samples by 255)")
    planes = np.array(a, dtype=np.float32)  # a copy: divided in place without a second temporary
    planes /= maxval
    t = torch.from_numpy(planes).permute(2, 0, 1)
    gray = t.shape[0] in (1, 2)
    colour = t[:1].expand(3, -1, -1) if gray else t[:3]
    alpha = t[-1:] if t.shape[0] in (2, 4) else None
    return colour.contiguous(), alpha, gray, maxval


def _array_from_pil(image: Any) -> np.ndarray:
    mode = image.mode
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    elif mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(image, dtype=np.uint16)
    elif mode not in ("L", "LA", "RGB", "RGBA"):
        image = image.convert("RGB")
    return np.asarray(image)


def _pil_from_array(array: np.ndarray, mode: str) -> Any:
    from PIL import Image

    if array.dtype == np.uint16:
        return Image.fromarray(array if array.ndim == 2 else (array[..., 0] if array.shape[2] == 1 else array))
    return Image.fromarray(array)
