"""A PatchDataset is any image source joined with a pairing strategy: an in-memory source works as well as
the folder ones, bad images are skipped, and aligned crops keep LR and HR in register."""

import pytest
import torch

from attnsr.data import PatchDataset
from attnsr.data.pairing import Aligned, Crop
from attnsr.errors import ConfigError, ImageError


class _Memory:
    """(lr, hr) pairs where hr is lr repeated 2x2 (nearest upscaling): any aligned crop keeps that relation."""

    def __init__(self, lrs, broken=()):
        self.lrs, self.broken = lrs, set(broken)

    def __len__(self):
        return len(self.lrs)

    def describe(self, index):
        return f"memory:{index}"

    def load(self, index):
        if index in self.broken:
            raise ImageError(f"memory:{index}: unreadable")
        lr = self.lrs[index]
        return lr, lr.repeat_interleave(2, -2).repeat_interleave(2, -1)


def _lrs(n: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    return [torch.randint(0, 256, (3, 9, 11), generator=g, dtype=torch.uint8) for _ in range(n)]


def test_in_memory_source_with_aligned_pairing():
    ds = PatchDataset(_Memory(_lrs(2)), Aligned(Crop(scale=2, lr_patch=4, augment=True)))
    assert len(ds) == 2
    for seed in range(20):
        lr, hr = ds[(1, seed)]
        assert lr.shape == (3, 4, 4) and hr.shape == (3, 8, 8)
        assert torch.equal(hr, lr.repeat_interleave(2, -2).repeat_interleave(2, -1))
    assert torch.equal(ds[(0, 5)][0], ds[(0, 5)][0])  # the seed alone decides the item


def test_bad_images_are_skipped_and_all_bad_is_an_error(caplog):
    lrs = _lrs(3)
    ds = PatchDataset(_Memory(lrs, broken={1}), Aligned(Crop(scale=2, lr_patch=4)))
    good = PatchDataset(_Memory(lrs), Aligned(Crop(scale=2, lr_patch=4)))
    assert torch.equal(ds[(1, 3)][0], good[(2, 3)][0])  # index 1 is unreadable: the next image is used
    assert "memory:1" in caplog.text
    with pytest.raises(ConfigError, match="no usable training image"):
        PatchDataset(_Memory(lrs, broken={0, 1, 2}), Aligned(Crop(scale=2, lr_patch=4)))[(0, 0)]
    too_big = PatchDataset(_Memory(lrs), Aligned(Crop(scale=2, lr_patch=10)))
    with pytest.raises(ConfigError):
        too_big[(0, 0)]
