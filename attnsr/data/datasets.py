"""Training datasets: a :class:`PatchDataset` joins a source of images (:mod:`attnsr.data.sources`) and a
pairing strategy (:mod:`attnsr.data.pairing`: random aligned LR/HR patches with the 8 dihedral
augmentations). :func:`hr_folder_dataset`, :func:`paired_folder_dataset` and :func:`h5_dataset` build the
three the training config names.

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

import torch
from torch.utils.data import Dataset

from attnsr.data.pairing import Aligned, Crop, Degrade, Item, Pairing
from attnsr.data.sources import H5Pairs, HRFolder, ImageSource, PairedFolders, read_uint8
from attnsr.errors import AttnsrError, ConfigError

__all__ = ["PatchDataset", "hr_folder_dataset", "paired_folder_dataset", "h5_dataset", "read_uint8",
           "HRFolderDataset", "PairedFolderDataset", "H5Dataset"]

log = logging.getLogger("attnsr.data")


class PatchDataset(Dataset):
    """``source``'s images made into items by ``pairing``; with ``cache`` the prepared uint8 images of each
    index are kept in memory after their first use."""

    def __init__(self, source: ImageSource, pairing: Pairing, *, cache: bool = False) -> None:
        self.source = source
        self.pairing = pairing
        self.cache = cache
        self._cache: dict[int, tuple[torch.Tensor, ...]] = {}
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.source)

    def describe(self, index: int) -> str:
        return self.source.describe(index)

    def _images(self, index: int) -> tuple[torch.Tensor, ...]:
        if index in self._cache:
            return self._cache[index]
        images = self.pairing.prepare(self.source.load(index))
        if self.cache:
            self._cache[index] = images
        return images

    def __getitem__(self, item: tuple[int, int] | int) -> Item:
        index, seed = item if isinstance(item, tuple) else (int(item), int(item))
        count = len(self)
        for attempt in range(count):
            i = (index + attempt) % count
            if i in self._bad:
                continue
            try:
                images = self._images(i)
                self.pairing.check(images)
            except (AttnsrError, OSError, ValueError, KeyError) as exc:
                self._bad.add(i)
                log.warning("skipping training image %s: %s", self.describe(i), exc)
                continue
            return self.pairing.make(images, torch.Generator().manual_seed(seed))
        raise ConfigError("no usable training image: every image is unreadable or smaller than the patch")


def hr_folder_dataset(hr_dir: str | os.PathLike[str], *, scale: int, lr_patch: int, degradation: str = "BI",
                      augment: bool = True, cache: bool = False,
                      hr_rescale: Sequence[float] = (1.0,),
                      extra_dirs: Sequence[str | os.PathLike[str]] = ()) -> PatchDataset:
    """HR images of one folder (and of ``extra_dirs``), the LR made by ``degradation`` (see
    :class:`~attnsr.data.pairing.Degrade`; with ``cache`` and BI/BD the whole LR image is made once);
    ``hr_rescale``: see :class:`~attnsr.data.sources.HRFolder`."""
    source = HRFolder(hr_dir, hr_rescale=hr_rescale, hr_patch=scale * lr_patch, extra_dirs=extra_dirs)
    pairing = Degrade(Crop(scale, lr_patch, augment), degradation, whole_lr=cache and degradation in ("BI", "BD"))
    return PatchDataset(source, pairing, cache=cache)


def paired_folder_dataset(hr_dir: str | os.PathLike[str], lr_dir: str | os.PathLike[str], *, scale: int,
                          lr_patch: int, augment: bool = True, cache: bool = False) -> PatchDataset:
    """LR and HR folders (see :class:`~attnsr.data.sources.PairedFolders`), aligned crops."""
    return PatchDataset(PairedFolders(hr_dir, lr_dir, scale=scale), Aligned(Crop(scale, lr_patch, augment)),
                        cache=cache)


def h5_dataset(path: str | os.PathLike[str], *, scale: int, lr_patch: int, bgr: bool = False,
               augment: bool = True, cache: bool = False) -> PatchDataset:
    """FSANet's HDF5 file (see :class:`~attnsr.data.sources.H5Pairs`), aligned crops."""
    return PatchDataset(H5Pairs(path, scale=scale, bgr=bgr), Aligned(Crop(scale, lr_patch, augment)), cache=cache)


# the constructors' former class names
HRFolderDataset = hr_folder_dataset
PairedFolderDataset = paired_folder_dataset
H5Dataset = h5_dataset
