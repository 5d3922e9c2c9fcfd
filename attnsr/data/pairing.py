"""How a training item is made from a source's uint8 images: the seeded crop and dihedral transform shared
by every dataset, and the two strategies, :class:`Degrade` (HR only; the LR is made by a degradation) and
:class:`Aligned` (stored LR and HR, cropped at aligned positions). Items are float32 (3, h, w) RGB in
[0, 1]: ``(lr, hr)`` with ``hr`` = ``lr_patch * scale`` square.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch

from attnsr.errors import ImageError
from attnsr.image.dihedral import dihedral

Item = tuple[torch.Tensor, torch.Tensor]


class Pairing(Protocol):
    def prepare(self, images: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]: ...

    def check(self, images: tuple[torch.Tensor, ...]) -> None: ...

    def make(self, images: tuple[torch.Tensor, ...], g: torch.Generator) -> Item: ...


def to_float(x: torch.Tensor) -> torch.Tensor:
    return x.to(torch.float32).div_(255.0)


@dataclass(frozen=True)
class Crop:
    """An LR patch of ``lr_patch`` pixels at a position drawn from the item's generator, with one of the 8
    dihedral transforms when ``augment``."""

    scale: int
    lr_patch: int
    augment: bool = True

    def draw(self, lr_hw: tuple[int, int], g: torch.Generator) -> tuple[int, int, int]:
        """(top, left) of the LR patch and the dihedral index, all from ``g``."""
        top = int(torch.randint(0, lr_hw[0] - self.lr_patch + 1, (1,), generator=g))
        left = int(torch.randint(0, lr_hw[1] - self.lr_patch + 1, (1,), generator=g))
        k = int(torch.randint(0, 8, (1,), generator=g)) if self.augment else 0
        return top, left, k

    def aligned(self, lr: torch.Tensor, hr: torch.Tensor, g: torch.Generator) -> Item:
        """LR patch at (top, left) and the HR patch at (s·top, s·left), both under dihedral transform k."""
        s, p = self.scale, self.lr_patch
        top, left, k = self.draw((lr.shape[-2], lr.shape[-1]), g)
        lr_patch = dihedral(to_float(lr[:, top:top + p, left:left + p]), k).contiguous()
        hr_patch = dihedral(to_float(hr[:, top * s:(top + p) * s, left * s:(left + p) * s]), k).contiguous()
        return lr_patch, hr_patch


@dataclass(frozen=True)
class Degrade:
    """The LR patch is made by ``degrade`` (BI, BD or DN) from the HR image.

    ``degradation="realistic"``: items are ``(empty, hr_patch)``; the training loop makes the LR of the
    whole batch with :func:`attnsr.image.realistic.degrade_realistic`, seeded per iteration.

    ``whole_lr`` (a cached dataset with a deterministic degradation, BI or BD): the whole LR image is
    computed once in :meth:`prepare` and patches are cropped from it, as from pre-generated LR files.
    Otherwise the HR patch is degraded with a margin of :data:`LR_MARGIN` LR pixels that is then cut away,
    so the LR patch equals the crop of the whole-image LR (bicubic taps reach 2 LR pixels) up to float
    rounding; DN noise is drawn per patch.
    """

    crop: Crop
    degradation: str = "BI"
    whole_lr: bool = False

    LR_MARGIN = 3

    def prepare(self, images: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        if not self.whole_lr:
            return images
        from attnsr.image.degrade import degrade

        (hr,) = images
        s = self.crop.scale
        hr = hr[:, : hr.shape[-2] // s * s, : hr.shape[-1] // s * s]
        lr = degrade(to_float(hr), s, self.degradation, quantize=True)
        return (lr.mul(255.0).round_().to(torch.uint8), hr)

    def check(self, images: tuple[torch.Tensor, ...]) -> None:
        """The last image is the HR one; its LR size must hold a patch."""
        s, p = self.crop.scale, self.crop.lr_patch
        lr_h, lr_w = images[-1].shape[-2] // s, images[-1].shape[-1] // s
        if min(lr_h, lr_w) < p:
            raise ImageError(f"LR size {lr_h}x{lr_w} is smaller than the {p}-pixel patch")

    def make(self, images: tuple[torch.Tensor, ...], g: torch.Generator) -> Item:
        if len(images) == 2:
            return self.crop.aligned(images[0], images[1], g)
        from attnsr.image.degrade import degrade

        s, p = self.crop.scale, self.crop.lr_patch
        (hr,) = images
        h, w = hr.shape[-2] // s, hr.shape[-1] // s
        top, left, k = self.crop.draw((h, w), g)
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


@dataclass(frozen=True)
class Aligned:
    """Stored LR and HR images: both cropped at aligned positions under the same dihedral transform."""

    crop: Crop

    def prepare(self, images: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        return images

    def check(self, images: tuple[torch.Tensor, ...]) -> None:
        lr, hr = images
        s, p = self.crop.scale, self.crop.lr_patch
        if hr.shape[-2] < lr.shape[-2] * s or hr.shape[-1] < lr.shape[-1] * s:
            raise ImageError(f"HR {tuple(hr.shape[-2:])} is smaller than {s} x LR {tuple(lr.shape[-2:])}")
        if min(lr.shape[-2], lr.shape[-1]) < p:
            raise ImageError(f"LR size {tuple(lr.shape[-2:])} is smaller than the {p}-pixel patch")

    def make(self, images: tuple[torch.Tensor, ...], g: torch.Generator) -> Item:
        lr, hr = images
        return self.crop.aligned(lr, hr, g)
