"""Writing FSANet's HDF5 training layout: groups ``HR`` and ``X<s>``, one uint8 H×W×3 dataset per image.

Dataset names are "0", "1", … in the sorted file order (as ``div2h5.py``). We store **RGB**; the official
script stored OpenCV's BGR, which :class:`attnsr.data.H5Dataset` reads with ``bgr=True``. HR images are
modcropped to the least common multiple of the scales, so every LR group is an exact 1/s of HR; LR is
MATLAB-bicubic (uint8-quantised) unless existing LR files are given.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from attnsr.atomic import atomic_path
from attnsr.data.sources import read_uint8
from attnsr.errors import ConfigError
from attnsr.image.io import list_images


def _lr_file(folder: Path, stem: str, scale: int) -> Path:
    for name in (f"{stem}x{scale}", stem):
        for f in folder.glob(name + ".*"):
            return f
    raise ConfigError(f"--lr-dir {scale}={folder}: no LR image for {stem}")


def write_h5(hr_dir: str | os.PathLike[str], output: str | os.PathLike[str], *, scales: Sequence[int] = (2, 3, 4),
             lr_dirs: Mapping[int, str | os.PathLike[str]] | None = None) -> int:
    """Convert ``hr_dir`` into ``output``; returns the number of images. Written to a temp file, renamed."""
    import h5py

    from attnsr.image.degrade import degrade

    files = list_images(hr_dir, what="hr_dir")
    lr_paths = {s: Path(d) for s, d in (lr_dirs or {}).items()}
    mod = math.lcm(*scales) if not lr_paths else 1
    with atomic_path(output) as tmp:
        with h5py.File(tmp, "w") as f:
            groups: dict[str | int, Any] = {"HR": f.create_group("HR"), **{s: f.create_group(f"X{s}") for s in scales}}
            for i, path in enumerate(files):
                hr = read_uint8(path)
                hr = hr[:, : hr.shape[1] // mod * mod, : hr.shape[2] // mod * mod]
                groups["HR"].create_dataset(str(i), data=hr.permute(1, 2, 0).numpy())
                for s in scales:
                    if s in lr_paths:
                        lr = read_uint8(_lr_file(lr_paths[s], path.stem, s))
                    else:
                        lr = degrade(hr.float() / 255.0, s, "BI", quantize=True).mul(255.0).round().to(torch.uint8)
                    groups[s].create_dataset(str(i), data=np.ascontiguousarray(lr.permute(1, 2, 0).numpy()))
    return len(files)
