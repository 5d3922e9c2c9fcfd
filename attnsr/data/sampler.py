"""A deterministic, resumable, rank-aware batch sampler.

The training stream is the concatenation of per-epoch permutations of the dataset, each drawn from a
generator seeded with (seed, epoch). Global iteration ``i`` consumes stream positions
``[i*B, (i+1)*B)`` (B = global batch); rank ``r`` of ``w`` takes the ``r``-th contiguous slice of B/w.
Every item also carries its own seed (a function of the seed and the stream position) that drives its
crop, augmentation and degradation noise.

Consequences: the data of iteration ``i`` depends only on (seed, i), never on how many workers or
processes produced it or whether the run was resumed; and the union of the ranks' batches is exactly
the single-process batch (what the DDP-equivalence test relies on). This plays the role of
``DistributedSampler`` with these stronger guarantees.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from attnsr.errors import ConfigError

_MIX = 0x9E3779B97F4A7C15
_MASK = (1 << 63) - 1


def item_seed(seed: int, position: int) -> int:
    """A 63-bit seed for stream position ``position`` (splitmix64-style mixing, pure Python)."""
    z = (seed * _MIX + position + 1) & ((1 << 64) - 1)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & ((1 << 64) - 1)
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & ((1 << 64) - 1)
    return (z ^ (z >> 31)) & _MASK


class StreamBatchSampler:
    """Yields, per iteration from ``start_iteration`` on, this rank's list of ``(index, item_seed)``."""

    def __init__(self, length: int, batch_size: int, *, seed: int, start_iteration: int = 0,
                 iterations: int | None = None, rank: int = 0, world_size: int = 1) -> None:
        if length < 1:
            raise ConfigError("the training set is empty")
        if batch_size % world_size:
            raise ConfigError(f"data.batch_size {batch_size} is not divisible by the {world_size} processes")
        self.length = length
        self.batch_size = batch_size
        self.seed = seed
        self.start_iteration = start_iteration
        self.iterations = iterations
        self.rank = rank
        self.world_size = world_size
        self._perm_epoch = -1
        self._perm = torch.empty(0, dtype=torch.long)

    def _index_at(self, position: int) -> int:
        epoch, offset = divmod(position, self.length)
        if epoch != self._perm_epoch:
            g = torch.Generator().manual_seed(item_seed(self.seed, -1 - epoch))
            self._perm = torch.randperm(self.length, generator=g)
            self._perm_epoch = epoch
        return int(self._perm[offset])

    def batch(self, iteration: int) -> list[tuple[int, int]]:
        """This rank's items of global iteration ``iteration`` (0-based)."""
        local = self.batch_size // self.world_size
        first = iteration * self.batch_size + self.rank * local
        return [(self._index_at(p), item_seed(self.seed, p)) for p in range(first, first + local)]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        i = self.start_iteration
        while self.iterations is None or i < self.iterations:
            yield self.batch(i)
            i += 1

    def __len__(self) -> int:
        if self.iterations is None:
            raise TypeError("an endless sampler has no length")
        return max(0, self.iterations - self.start_iteration)
