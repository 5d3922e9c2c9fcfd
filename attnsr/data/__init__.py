"""Training data: patch datasets (a source of images -- HR folder, paired folders, FSANet HDF5 -- joined with
a pairing strategy) and the resumable sampler."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch.utils.data import DataLoader, Dataset

from attnsr.data.datasets import (
    H5Dataset,
    HRFolderDataset,
    PairedFolderDataset,
    PatchDataset,
    h5_dataset,
    hr_folder_dataset,
    paired_folder_dataset,
)
from attnsr.data.sampler import StreamBatchSampler, item_seed
from attnsr.image.io import list_images

if TYPE_CHECKING:
    from attnsr.train.config import DataConfig

__all__ = [
    "H5Dataset",
    "HRFolderDataset",
    "PairedFolderDataset",
    "PatchDataset",
    "StreamBatchSampler",
    "build_dataset",
    "h5_dataset",
    "hr_folder_dataset",
    "item_seed",
    "list_images",
    "make_loader",
    "paired_folder_dataset",
]


def build_dataset(data: DataConfig, scale: int) -> PatchDataset:
    """The dataset a :class:`~attnsr.train.config.DataConfig` describes."""
    from attnsr.errors import ConfigError

    common: dict[str, Any] = dict(scale=scale, lr_patch=data.lr_patch, augment=data.augment, cache=data.cache)
    if data.kind == "hr_folder":
        if not data.hr_dir:
            raise ConfigError("data.hr_dir: required for data.kind hr_folder")
        return hr_folder_dataset(data.hr_dir, degradation=data.degradation, hr_rescale=data.hr_rescale,
                                 extra_dirs=data.extra_hr_dirs, **common)
    if data.kind == "paired":
        if not data.hr_dir or not data.lr_dir:
            raise ConfigError("data.hr_dir and data.lr_dir: both required for data.kind paired")
        return paired_folder_dataset(data.hr_dir, data.lr_dir, **common)
    if data.kind == "h5":
        if not data.h5_path:
            raise ConfigError("data.h5_path: required for data.kind h5")
        return h5_dataset(data.h5_path, bgr=data.h5_bgr, **common)
    raise ConfigError(f"data.kind: unknown kind {data.kind!r}")


def _worker_init(_: int) -> None:
    torch.set_num_threads(1)  # workers crop/degrade small patches; more threads only oversubscribe


def make_loader(dataset: Dataset, sampler: StreamBatchSampler, *, num_workers: int,
                pin_memory: bool = False) -> DataLoader:
    """A DataLoader over ``sampler``'s batches; the data never depends on ``num_workers``."""
    return DataLoader(dataset, batch_sampler=sampler, num_workers=num_workers, pin_memory=pin_memory,
                      worker_init_fn=_worker_init if num_workers else None,
                      prefetch_factor=4 if num_workers else None, persistent_workers=False,
                      # its own generator: creating an iterator must not consume the global torch RNG
                      generator=torch.Generator().manual_seed(sampler.seed))
