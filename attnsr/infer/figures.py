"""Figures made of image panels: the bicubic | model side-by-side of ``attnsr upscale --compare`` and the
zoomed-crop comparisons of ``attnsr compare``. Inputs and outputs are uint8 RGB arrays (H, W, 3)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from attnsr.image.resize import imresize

CAPTION_HEIGHT = 18
GAP = 4


def to_rgb8(array: np.ndarray) -> np.ndarray:
    """Any engine array (gray/gray+alpha/RGB/RGBA, uint8/uint16) -> uint8 RGB (H, W, 3), alpha dropped."""
    a = array if array.ndim == 3 else array[..., None]
    a = a[..., :1] if a.shape[-1] in (1, 2) else a[..., :3]
    if a.dtype == np.uint16:
        a = np.floor(a.astype(np.float64) / 257.0 + 0.5).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(a, 3, axis=-1) if a.shape[-1] == 1 else a)


def panel_grid(panels: Sequence[tuple[np.ndarray, str]], *, columns: int | None = None) -> np.ndarray:
    """Panels (uint8 RGB arrays of equal size) with a caption under each, in a row (or ``columns`` wide)."""
    if not panels:
        raise ValueError("panel_grid needs at least one panel")
    h, w = panels[0][0].shape[:2]
    cols = columns or len(panels)
    rows = -(-len(panels) // cols)
    canvas = Image.new("RGB", (cols * w + (cols - 1) * GAP, rows * (h + CAPTION_HEIGHT) + (rows - 1) * GAP), "white")
    draw = ImageDraw.Draw(canvas)
    font = ImageFont.load_default()
    for i, (img, caption) in enumerate(panels):
        if img.shape[:2] != (h, w):
            raise ValueError(f"panel {i} is {img.shape[:2]}, expected {(h, w)}")
        x, y = (i % cols) * (w + GAP), (i // cols) * (h + CAPTION_HEIGHT + GAP)
        canvas.paste(Image.fromarray(to_rgb8(img)), (x, y))
        draw.text((x + 3, y + h + 3), caption, fill="black", font=font)
    return np.asarray(canvas)


def side_by_side(lr: np.ndarray, sr: np.ndarray, scale: float, *, right_label: str = "attnsr") -> np.ndarray:
    """bicubic(lr) | sr, each captioned: the picture a user looks at to judge an upscaler. The bicubic
    panel is resized to ``sr``'s size (``scale`` only labels it, e.g. 3.5 after ``--outscale``)."""
    bicubic = imresize(to_rgb8(lr), size=sr.shape[:2])
    return panel_grid([(bicubic, f"bicubic x{scale:g}"), (to_rgb8(sr), right_label)])
