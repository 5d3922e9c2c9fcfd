"""Training datasets: random aligned LR/HR patches with the 8 dihedral augmentations.

An item is addressed as ``(index, item_seed)`` (see :mod:`attnsr.data.sampler`): the seed alone decides
the crop position, the dihedral transform and any degradation noise, so the data is reproducible across
workers, processes and resumes. Items are float32 (3, h, w) RGB in [0, 1]: ``(lr, hr)`` with
``hr`` = ``lr_patch * scale`` square.

Images that cannot be read (or are smaller than the patch) are reported once and skipped: the item is
taken from the next image instead.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.utils.data import Dataset

from attnsr.errors import AttnsrError, ConfigError
from attnsr.image.dihedral import dihedral
from attnsr.image.io import list_images

log = logging.getLogger("attnsr.data")

Item = tuple[torch.Tensor, torch.Tensor]


def read_uint8(path: Path) -> torch.Tensor:
    """(3, H, W) uint8 RGB of an image file (grey is replicated by the loader)."""
    from attnsr.image.io import load_image

    rgb = torch.as_tensor(load_image(path).rgb)
    return (rgb * 255.0).round_().clamp_(0, 255).to(torch.uint8)


def to_float(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float32).div_(255.0)


class _PatchDataset(Dataset):
    """Shared machinery: image loading (optionally cached), skipping bad images, seeded crops."""

    def __init__(self, count: int, *, scale: int, lr_patch: int, augment: bool, cache: bool) -> None:
        self.count = count
        self.scale = scale
        self.lr_patch = lr_patch
        self.augment = augment
        self.cache = cache
        self._cache: dict[int, tuple[torch.Tensor, ...]] = {}
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return self.count

    def _load(self, index: int) -> tuple[torch.Tensor, ...]:
        """uint8 image(s) of ``index``: (hr,) or (lr, hr)."""
        raise NotImplementedError

    def _make(self, images: tuple[torch.Tensor, ...], g: torch.Generator) -> Item:
        raise NotImplementedError

    def _describe(self, index: int) -> str:
        return str(index)

    def _images(self, index: int) -> tuple[torch.Tensor, ...]:
        if index in self._cache:
            return self._cache[index]
        images = self._load(index)
        if self.cache:
            self._cache[index] = images
        return images

    def __getitem__(self, item: tuple[int, int] | int) -> Item:
        index, seed = item if isinstance(item, tuple) else (int(item), int(item))
        for attempt in range(self.count):
            i = (index + attempt) % self.count
            if i in self._bad:
                continue
            try:
                images = self._images(i)
                self._check_size(images, i)
            except (AttnsrError, OSError, ValueError, KeyError) as exc:
                self._bad.add(i)
                log.warning("skipping training image %s: %s", self._describe(i), exc)
                continue
            return self._make(images, torch.Generator().manual_seed(seed))
        raise ConfigError("no usable training image: every image is unreadable or smaller than the patch")

    def _check_size(self, images: tuple[torch.Tensor, ...], index: int) -> None:
        """The last image is the HR one; its LR size must hold a patch."""
        lr_h, lr_w = images[-1].shape[-2] // self.scale, images[-1].shape[-1] // self.scale
        if min(lr_h, lr_w) < self.lr_patch:
            raise ValueError(f"LR size {lr_h}x{lr_w} is smaller than the {self.lr_patch}-pixel patch")

    def _crop(self, lr_hw: tuple[int, int], g: torch.Generator) -> tuple[int, int, int]:
        """(top, left) of the LR patch and the dihedral index, all from ``g``."""
        top = int(torch.randint(0, lr_hw[0] - self.lr_patch + 1, (1,), generator=g))
        left = int(torch.randint(0, lr_hw[1] - self.lr_patch + 1, (1,), generator=g))
        k = int(torch.randint(0, 8, (1,), generator=g)) if self.augment else 0
        return top, left, k


class HRFolderDataset(_PatchDataset):
    """HR images (DIV2K layout: one folder); the LR patch is made by ``degrade`` (BI, BD or DN).

    ``degradation="realistic"``: items are ``(empty, hr_patch)``; the training loop makes the LR of the
    whole batch with :func:`attnsr.image.realistic.degrade_realistic`, seeded per iteration.

    With ``cache`` and a deterministic degradation (BI, BD) the whole LR image is computed once and
    patches are cropped from it, as from pre-generated LR files. Otherwise the HR patch is degraded with
    a margin of :data:`LR_MARGIN` LR pixels that is then cut away, so the LR patch equals the crop of the
    whole-image LR (bicubic taps reach 2 LR pixels) up to float rounding; DN noise is drawn per patch.
    ``hr_rescale``: the scales at which each HR image is used (FSRCNN's augmentation, e.g. 1.0 to 0.6); a
    downscaled copy is an image of its own, made with MATLAB bicubic before the degradation.
    """

    LR_MARGIN = 3

    def __init__(self, hr_dir: str | os.PathLike[str], *, scale: int, lr_patch: int, degradation: str = "BI",
                 augment: bool = True, cache: bool = False, hr_rescale: Sequence[float] = (1.0,)) -> None:
        self.files = list_images(hr_dir, what="data.hr_dir")
        #: (file index, factor) of each training image: every file at every ``hr_rescale`` factor, less
        #: the downscaled copies too small for a patch (found from the file headers, without decoding).
        self.items = _rescaled_items(self.files, tuple(hr_rescale), scale * lr_patch)
        super().__init__(len(self.items), scale=scale, lr_patch=lr_patch, augment=augment, cache=cache)
        self.degradation = degradation
        self.whole_lr = cache and degradation in ("BI", "BD")

    def _describe(self, index: int) -> str:
        i, factor = self.items[index]
        return str(self.files[i]) + (f" (downscaled x{factor:g})" if factor != 1.0 else "")

    def _load(self, index: int) -> tuple[torch.Tensor, ...]:
        from attnsr.image.degrade import degrade
        from attnsr.image.resize import imresize

        i, factor = self.items[index]
        hr = read_uint8(self.files[i])
        if factor != 1.0:
            hr = imresize(hr, factor)  # MATLAB bicubic with antialiasing, rounded to uint8 like MATLAB
        if not self.whole_lr:
            return (hr,)
        s = self.scale
        hr = hr[:, : hr.shape[-2] // s * s, : hr.shape[-1] // s * s]
        lr = degrade(to_float(hr), s, self.degradation, quantize=True)
        return (lr.mul(255.0).round_().to(torch.uint8), hr)

    def _make(self, images: tuple[torch.Tensor, ...], g: torch.Generator) -> Item:
        s, p = self.scale, self.lr_patch
        if len(images) == 2:
            return _aligned_crop(images[0], images[1], s, p, self._crop((images[0].shape[-2], images[0].shape[-1]), g))
        from attnsr.image.degrade import degrade

        (hr,) = images
        h, w = hr.shape[-2] // s, hr.shape[-1] // s
        top, left, k = self._crop((h, w), g)
        if self.degradation == "realistic":
            hr_patch = to_float(hr[:, top * s:(top + p) * s, left * s:(left + p) * s])
            return torch.empty(0), dihedral(hr_patch, k).contiguous()
        m = self.LR_MARGIN
        t0, l0 = max(top - m, 0), max(left - m, 0)
        t1, l1 = min(top + p + m, h), min(left + p + m, w)
        lr = degrade(to_float(hr[:, t0 * s:t1 * s, l0 * s:l1 * s]), s, self.degradation, generator=g, quantize=True)
        lr = lr[:, top - t0:top - t0 + p, left - l0:left - l0 + p].to(torch.float32)
        hr_patch = to_float(hr[:, top * s:(top + p) * s, left * s:(left + p) * s])
        return dihedral(lr, k).contiguous(), dihedral(hr_patch, k).contiguous()


def _rescaled_items(files: Sequence[Path], factors: tuple[float, ...], hr_patch: int) -> list[tuple[int, float]]:
    """Every (file index, factor) pair whose downscaled image still holds an ``hr_patch`` square.

    FSRCNN's augmentation: extra training images made by downscaling each HR image (e.g. by 0.9 to 0.6).
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


def _aligned_crop(lr: torch.Tensor, hr: torch.Tensor, s: int, p: int, where: tuple[int, int, int]) -> Item:
    """LR patch at (top, left) and the HR patch at (s·top, s·left), both under dihedral transform k."""
    top, left, k = where
    lr_patch = dihedral(to_float(lr[:, top:top + p, left:left + p]), k).contiguous()
    hr_patch = dihedral(to_float(hr[:, top * s:(top + p) * s, left * s:(left + p) * s]), k).contiguous()
    return lr_patch, hr_patch


class _AlignedDataset(_PatchDataset):
    """Datasets that store both LR and HR: crop both at aligned positions, same dihedral transform."""

    def _check_size(self, images: tuple[torch.Tensor, ...], index: int) -> None:
        lr, hr = images
        s = self.scale
        if hr.shape[-2] < lr.shape[-2] * s or hr.shape[-1] < lr.shape[-1] * s:
            raise ValueError(f"HR {tuple(hr.shape[-2:])} is smaller than {s} x LR {tuple(lr.shape[-2:])}")
        if min(lr.shape[-2], lr.shape[-1]) < self.lr_patch:
            raise ValueError(f"LR size {tuple(lr.shape[-2:])} is smaller than the {self.lr_patch}-pixel patch")

    def _make(self, images: tuple[torch.Tensor, ...], g: torch.Generator) -> Item:
        lr, hr = images
        return _aligned_crop(lr, hr, self.scale, self.lr_patch, self._crop((lr.shape[-2], lr.shape[-1]), g))


class PairedFolderDataset(_AlignedDataset):
    """LR and HR folders; the LR of ``name.png`` is ``name.png`` or ``name`` + ``x<scale>`` (DIV2K)."""

    def __init__(self, hr_dir: str | os.PathLike[str], lr_dir: str | os.PathLike[str], *, scale: int,
                 lr_patch: int, augment: bool = True, cache: bool = False) -> None:
        self.hr_files = list_images(hr_dir, what="data.hr_dir")
        by_stem: dict[str, Path] = {f.stem: f for f in list_images(lr_dir, what="data.lr_dir")}
        self.lr_files: list[Path] = []
        for f in self.hr_files:
            match = by_stem.get(f.stem) or by_stem.get(f"{f.stem}x{scale}")
            if match is None:
                raise ConfigError(f"data.lr_dir: {lr_dir}: no LR image for {f.name} "
                                  f"(looked for {f.stem}.* and {f.stem}x{scale}.*)")
            self.lr_files.append(match)
        super().__init__(len(self.hr_files), scale=scale, lr_patch=lr_patch, augment=augment, cache=cache)

    def _describe(self, index: int) -> str:
        return f"{self.hr_files[index]} / {self.lr_files[index]}"

    def _load(self, index: int) -> tuple[torch.Tensor, ...]:
        return read_uint8(self.lr_files[index]), read_uint8(self.hr_files[index])


class H5Dataset(_AlignedDataset):
    """FSANet's HDF5 layout: groups ``HR`` and ``X<scale>``, one uint8 H×W×3 dataset per image, paired by
    the name (h5py's sorted order). ``bgr=True`` for files written by the official ``div2h5.py``."""

    def __init__(self, path: str | os.PathLike[str], *, scale: int, lr_patch: int, bgr: bool = False,
                 augment: bool = True, cache: bool = False) -> None:
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
        super().__init__(len(self.names), scale=scale, lr_patch=lr_patch, augment=augment, cache=cache)
        self._file = None
        self._pid = -1

    def _describe(self, index: int) -> str:
        return f"{self.path}:{self.names[index]}"

    def _handle(self):  # type: ignore[no-untyped-def]
        import h5py

        if self._file is None or self._pid != os.getpid():  # one handle per worker process
            self._file = h5py.File(self.path, "r")
            self._pid = os.getpid()
        return self._file

    def _load(self, index: int) -> tuple[torch.Tensor, ...]:
        f = self._handle()
        out = []
        for group in (self.group, "HR"):
            arr = torch.from_numpy(f[group][self.names[index]][()])
            if arr.dim() != 3 or arr.shape[-1] != 3 or arr.dtype != torch.uint8:
                raise ValueError(f"expected uint8 HxWx3, got {arr.dtype} {tuple(arr.shape)}")
            if self.bgr:
                arr = arr.flip(-1)
            out.append(arr.permute(2, 0, 1).contiguous())
        return tuple(out)

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_file"] = None  # h5py handles do not cross process boundaries
        return state
