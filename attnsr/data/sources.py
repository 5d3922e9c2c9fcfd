"""Where training images come from: each source maps an index to its uint8 (3, H, W) RGB images, ``(hr,)``
or ``(lr, hr)``, and names it for messages. The pairing strategy (:mod:`attnsr.data.pairing`) turns them
into patches; :class:`attnsr.data.datasets.PatchDataset` joins the two.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import torch

from attnsr.errors import ConfigError, ImageError
from attnsr.image.io import list_images, load_image

log = logging.getLogger("attnsr.data")


class ImageSource(Protocol):
    """``len(source)`` images; ``load(i)`` -> uint8 (3, H, W) tensors, ``(hr,)`` or ``(lr, hr)``."""

    def __len__(self) -> int: ...

    def load(self, index: int) -> tuple[torch.Tensor, ...]: ...

    def describe(self, index: int) -> str: ...


def read_uint8(path: Path) -> torch.Tensor:
    """(3, H, W) uint8 RGB of an image file (grey is replicated by the loader)."""
    rgb = torch.as_tensor(load_image(path).rgb)
    return (rgb * 255.0).round_().clamp_(0, 255).to(torch.uint8)


class HRFolder:
    """HR images of one folder (DIV2K layout), then of each of ``extra_dirs``, each at every ``hr_rescale``
    factor (FSRCNN's augmentation, e.g. 1.0 to 0.6): a downscaled copy is an image of its own, made with
    MATLAB bicubic; copies smaller than ``hr_patch`` (read from the file headers, without decoding) are
    left out."""

    def __init__(self, hr_dir: str | os.PathLike[str], *, hr_rescale: Sequence[float] = (1.0,),
                 hr_patch: int = 0, extra_dirs: Sequence[str | os.PathLike[str]] = ()) -> None:
        self.files = list_images(hr_dir, what="data.hr_dir")
        for folder in extra_dirs:
            recipe = Path(f"{folder}.md")  # a folder made on demand documents how beside it
            if not Path(folder).is_dir() and recipe.is_file():
                raise ConfigError(f"data.extra_hr_dirs: {folder}: not made yet; {recipe} says how")
            self.files += list_images(folder, what="data.extra_hr_dirs")
        #: (file index, factor) of each training image
        self.items = _rescaled_items(self.files, tuple(hr_rescale), hr_patch)

    def __len__(self) -> int:
        return len(self.items)

    def describe(self, index: int) -> str:
        i, factor = self.items[index]
        return str(self.files[i]) + (f" (downscaled x{factor:g})" if factor != 1.0 else "")

    def load(self, index: int) -> tuple[torch.Tensor, ...]:
        from attnsr.image.resize import imresize

        i, factor = self.items[index]
        hr = read_uint8(self.files[i])
        if factor != 1.0:
            hr = imresize(hr, factor)  # MATLAB bicubic with antialiasing, rounded to uint8 like MATLAB
        return (hr,)


def _rescaled_items(files: Sequence[Path], factors: tuple[float, ...], hr_patch: int) -> list[tuple[int, float]]:
    """Every (file index, factor) pair whose downscaled image still holds an ``hr_patch`` square.
    Factor 1 keeps every file (an unreadable or small one is reported and skipped when first used)."""
    from PIL import Image

    from attnsr.image.resize import output_shape

    sizes: list[tuple[int, int] | None] = []  # (H, W) from each file's header, read once
    for path in files if any(f != 1.0 for f in factors) else ():
        try:
            with Image.open(path) as im:
                sizes.append((im.size[1], im.size[0]))
        except OSError:
            sizes.append(None)  # kept: reported by the loader like any unreadable image
    items: list[tuple[int, float]] = []
    dropped = 0
    for factor in factors:
        for i in range(len(files)):
            hw = sizes[i] if factor != 1.0 else None
            if hw is not None and min(output_shape(hw, factor, None)[0]) < hr_patch:
                dropped += 1
                continue
            items.append((i, factor))
    if dropped:
        log.info("data.hr_rescale: %d downscaled copies are smaller than the %d-pixel HR patch and are not used; "
                 "%d training images in all", dropped, hr_patch, len(items))
    return items


class PairedFolders:
    """LR and HR folders; the LR of ``name.png`` is ``name.*`` or ``name`` + ``x<scale>.*`` (DIV2K)."""

    def __init__(self, hr_dir: str | os.PathLike[str], lr_dir: str | os.PathLike[str], *, scale: int) -> None:
        self.hr_files = list_images(hr_dir, what="data.hr_dir")
        by_stem: dict[str, Path] = {f.stem: f for f in list_images(lr_dir, what="data.lr_dir")}
        self.lr_files: list[Path] = []
        for f in self.hr_files:
            match = by_stem.get(f.stem) or by_stem.get(f"{f.stem}x{scale}")
            if match is None:
                raise ConfigError(f"data.lr_dir: {lr_dir}: no LR image for {f.name} "
                                  f"(looked for {f.stem}.* and {f.stem}x{scale}.*)")
            self.lr_files.append(match)

    def __len__(self) -> int:
        return len(self.hr_files)

    def describe(self, index: int) -> str:
        return f"{self.hr_files[index]} / {self.lr_files[index]}"

    def load(self, index: int) -> tuple[torch.Tensor, ...]:
        return read_uint8(self.lr_files[index]), read_uint8(self.hr_files[index])


class H5Pairs:
    """FSANet's HDF5 layout: groups ``HR`` and ``X<scale>``, one uint8 H×W×3 dataset per image, paired by
    the name (h5py's sorted order). ``bgr=True`` for files written by the official ``div2h5.py``. The file
    is opened once per worker process."""

    def __init__(self, path: str | os.PathLike[str], *, scale: int, bgr: bool = False) -> None:
        import h5py

        self.path = Path(path)
        self.bgr = bgr
        self.group = f"X{scale}"
        try:
            with h5py.File(self.path, "r") as f:
                if "HR" not in f or self.group not in f:
                    raise ConfigError(f"data.h5_path: {self.path}: needs groups HR and {self.group}, "
                                      f"has {sorted(f.keys())}")
                self.names: Sequence[str] = sorted(f["HR"].keys())
                missing = [n for n in self.names if n not in f[self.group]]
        except OSError as exc:
            raise ConfigError(f"data.h5_path: {self.path}: cannot open HDF5 file ({exc})") from None
        if not self.names or missing:
            raise ConfigError(f"data.h5_path: {self.path}: group {self.group} lacks images {missing[:5]}"
                              if missing else f"data.h5_path: {self.path}: group HR is empty")
        self._file: Any = None
        self._pid = -1

    def __len__(self) -> int:
        return len(self.names)

    def describe(self, index: int) -> str:
        return f"{self.path}:{self.names[index]}"

    def _handle(self) -> Any:
        import h5py

        if self._file is None or self._pid != os.getpid():  # one handle per worker process
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def load(self, index: int) -> tuple[torch.Tensor, ...]:
        f = self._handle()
        out = []
        for group in (self.group, "HR"):
            arr = torch.from_numpy(f[group][self.names[index]][()])
            if arr.dim() != 3 or arr.shape[-1] != 3 or arr.dtype != torch.uint8:
                raise ImageError(f"expected uint8 HxWx3, got {arr.dtype} {tuple(arr.shape)}")
            if self.bgr:
                arr = arr.flip(-1)
            out.append(arr.permute(2, 0, 1).contiguous())
        return tuple(out)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_file"] = None  # h5py handles do not cross process boundaries
        return state
