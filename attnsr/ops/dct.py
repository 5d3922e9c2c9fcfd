"""Orthonormal 2-D DCT-II in matrix form and FcaNet's frequency rankings (pure functions, no parameters).

Used by DFSA's matrix multi-spectral channel attention (``attnsr.ops.mmca``). The basis follows FcaNet
(Qin et al., arXiv 2012.11879, ``cfzd/FcaNet`` ``model/layer.py``): ``cos(pi f (q + 1/2) / N) / sqrt(N)``,
times ``sqrt(2)`` for ``f > 0``, i.e. the orthonormal DCT-II, so ``D @ D.T == I`` and the 2-D spectrum
``S = D_H p D_W^T`` preserves the Frobenius norm (Parseval).
"""

from __future__ import annotations

import math

import torch

from attnsr.errors import ConfigError

# FcaNet's rankings of (u, v) positions on a 7x7 grid (u = vertical/row frequency, v = horizontal/column
# frequency), best first ("top"), lowest first ("low") and worst first ("bot"); 32 entries each.
FREQ_RANKINGS: dict[str, tuple[tuple[int, ...], tuple[int, ...]]] = {
    "top": (
        (0, 0, 6, 0, 0, 1, 1, 4, 5, 1, 3, 0, 0, 0, 3, 2, 4, 6, 3, 5, 5, 2, 6, 5, 5, 3, 3, 4, 2, 2, 6, 1),
        (0, 1, 0, 5, 2, 0, 2, 0, 0, 6, 0, 4, 6, 3, 5, 2, 6, 3, 3, 3, 5, 1, 1, 2, 4, 2, 1, 1, 3, 0, 5, 3),
    ),
    "low": (
        (0, 0, 1, 1, 0, 2, 2, 1, 2, 0, 3, 4, 0, 1, 3, 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4),
        (0, 1, 0, 1, 2, 0, 1, 2, 2, 3, 0, 0, 4, 3, 1, 5, 4, 3, 2, 1, 0, 6, 5, 4, 3, 2, 1, 0, 6, 5, 4, 3),
    ),
    "bot": (
        (6, 1, 3, 3, 2, 4, 1, 2, 4, 4, 5, 1, 4, 6, 2, 5, 6, 1, 6, 2, 2, 4, 3, 3, 5, 5, 6, 2, 5, 5, 3, 6),
        (6, 4, 4, 6, 6, 3, 1, 4, 4, 5, 6, 5, 2, 2, 5, 1, 4, 3, 5, 0, 3, 1, 1, 2, 4, 2, 1, 1, 5, 3, 3, 3),
    ),
}

#: The grid the rankings refer to.
RANKING_GRID = 7


def dct_matrix(n: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None) -> torch.Tensor:
    """Orthonormal DCT-II matrix ``D`` (n×n; row f = frequency f, column q = position q).

    ``D[f, q] = a_f cos(pi f (q + 1/2) / n)`` with ``a_0 = sqrt(1/n)``, ``a_f = sqrt(2/n)``. Built in float64
    and then cast, so a float64 request is exact to ~1e-16 (a float32 basis later cast up is not).
    """
    if n < 1:
        raise ConfigError(f"dct_matrix: size must be >= 1, got {n}")
    f = torch.arange(n, dtype=torch.float64).unsqueeze(1)
    q = torch.arange(n, dtype=torch.float64).unsqueeze(0)
    d = torch.cos(math.pi * f * (q + 0.5) / n) * math.sqrt(2.0 / n)
    d[0] = 1.0 / math.sqrt(n)
    return d.to(dtype=dtype, device=device)


def dct2(p: torch.Tensor, d_h: torch.Tensor, d_w: torch.Tensor) -> torch.Tensor:
    """2-D DCT ``S = D_H p D_W^T`` over the last two axes of ``p`` (…×H×W -> …×H×W; rows of S = u)."""
    return d_h @ p @ d_w.transpose(0, 1)


def frequency_indices(select: str, n: int, grid: int = RANKING_GRID) -> tuple[list[int], list[int]]:
    """First ``n`` (u, v) positions of FcaNet's ``select`` ranking, scaled to a ``grid``×``grid`` spectrum.

    As FcaNet, positions on a grid of size 7m are the 7×7 positions times m. ``grid`` must be a multiple of 7.
    """
    if select not in FREQ_RANKINGS:
        raise ConfigError(f"unknown frequency ranking {select!r}; choose one of {sorted(FREQ_RANKINGS)}")
    us, vs = FREQ_RANKINGS[select]
    if not 1 <= n <= len(us):
        raise ConfigError(f"number of frequencies must be in 1..{len(us)}, got {n}")
    if grid % RANKING_GRID != 0:
        raise ConfigError(f"DCT grid must be a multiple of {RANKING_GRID}, got {grid}")
    m = grid // RANKING_GRID
    return [u * m for u in us[:n]], [v * m for v in vs[:n]]


def map_to_size(indices: list[int], size: int, grid: int = RANKING_GRID) -> list[int]:
    """Map 7×7-grid frequency indices onto a full ``size``-point DCT: ``round(i·size/7)``, clamped to size-1.

    Used when the spectrum is taken over the whole feature map instead of a pooled 7×7 grid; the clamp only
    acts for maps smaller than 4 pixels, where the higher frequencies do not exist.
    """
    return [min(int(math.floor(i * size / grid + 0.5)), size - 1) for i in indices]


def dct_rows(freqs: list[int], n: int, *, dtype: torch.dtype = torch.float64,
             device: torch.device | str | None = None) -> torch.Tensor:
    """Rows ``freqs`` of :func:`dct_matrix` (len(freqs)×n) without building the whole n×n matrix."""
    f = torch.tensor(freqs, dtype=torch.float64).unsqueeze(1)
    q = torch.arange(n, dtype=torch.float64).unsqueeze(0)
    scale = torch.where(f == 0, torch.tensor(1.0 / math.sqrt(n), dtype=torch.float64),
                        torch.tensor(math.sqrt(2.0 / n), dtype=torch.float64))
    return (torch.cos(math.pi * f * (q + 0.5) / n) * scale).to(dtype=dtype, device=device)
