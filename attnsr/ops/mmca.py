"""Matrix multi-spectral channel attention (MMCA), as reconstructed for DFSA (spec ``dfsa.md`` §3).

Every channel of the (pooled) feature map is projected onto N fixed 2-D DCT basis functions chosen by
FcaNet's frequency ranking, giving a B×C×N coefficient matrix; an SE-style excitation maps it to a per-channel
gate in (0, 1) that multiplies the input. With N = 1 (the DC term) it reduces to RCAN's channel attention.

Excitations (``excitation``):
  "flatten": vec(M) (C·N, channel-major: index c·N + n) -> 1×1 conv C·N→C/r -> ReLU -> C/r→C -> sigmoid.
  "freqmix": z = M·w with a learned w ∈ R^N shared by all channels, then RCAN's C→C/r→C excitation.
  "fcanet":  FcaNet's vector: channel c keeps only the frequency of its contiguous group (C/N channels per
             frequency), then RCAN's excitation. Same parameters as RCAN CA.
Keys: ``conv_du.0.*``, ``conv_du.2.*`` (as RCAN's CALayer) and ``freq_weight`` ("freqmix").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from attnsr.errors import ConfigError
from attnsr.ops.dct import RANKING_GRID, dct2, dct_matrix, dct_rows, frequency_indices, map_to_size

EXCITATIONS = ("flatten", "freqmix", "fcanet")


class MMCA(nn.Module):
    """Input and output B×C×H×W, any H, W ≥ 1; the gate is constant over H×W.

    pool_size: the map is adaptive-average-pooled to pool_size² (a multiple of 7; default 7) before the DCT,
    which makes the attention size-independent. ``None`` takes the DCT of the whole H×W map instead,
    mapping each 7×7-grid frequency (u, v) to (round(u·H/7), round(v·W/7)).
    """

    dct: torch.Tensor
    freq_u: torch.Tensor
    freq_v: torch.Tensor

    def __init__(
        self,
        channels: int,
        reduction: int = 16,
        n_freqs: int = 16,
        freq_select: str = "top",
        pool_size: int | None = 7,
        excitation: str = "flatten",
    ) -> None:
        super().__init__()
        if excitation not in EXCITATIONS:
            raise ConfigError(f"MMCA: excitation {excitation!r} not in {EXCITATIONS}")
        if excitation == "fcanet" and channels % n_freqs != 0:
            raise ConfigError(f"MMCA: excitation 'fcanet' needs n_freqs {n_freqs} to divide channels {channels}")
        if channels % reduction != 0:
            raise ConfigError(f"MMCA: reduction {reduction} must divide channels {channels}")
        self.channels = channels
        self.pool_size = pool_size
        self.excitation = excitation
        self.freqs_7 = frequency_indices(freq_select, n_freqs)  # on the 7×7 grid
        grid = pool_size if pool_size is not None else RANKING_GRID
        u, v = frequency_indices(freq_select, n_freqs, grid)
        self.register_buffer("freq_u", torch.tensor(u), persistent=False)
        self.register_buffer("freq_v", torch.tensor(v), persistent=False)
        # float64 basis, cast at use: keeps float64 runs exact (a float32 buffer cast up would not be).
        self.register_buffer("dct", dct_matrix(grid), persistent=False)
        hidden = channels // reduction
        in_ch = channels * n_freqs if excitation == "flatten" else channels
        self.freq_weight = None
        if excitation == "freqmix":
            # Starts as RCAN's CA: DC weight 1/s turns the DC coefficient (s × mean) into the mean.
            init = torch.zeros(n_freqs)
            init[0] = 1.0 / grid if (u[0], v[0]) == (0, 0) else 0.0
            self.freq_weight = nn.Parameter(init)
        self.conv_du = nn.Sequential(
            nn.Conv2d(in_ch, hidden, 1, bias=True),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1, bias=True),
            nn.Sigmoid(),
        )

    def spectrum(self, x: torch.Tensor) -> torch.Tensor:
        """Full DCT spectrum B×C×s×s of the pooled map (pool_size mode only; rows = u, columns = v)."""
        if self.pool_size is None:
            raise ConfigError("MMCA.spectrum: only defined when pool_size is set")
        d = self.dct.to(dtype=x.dtype)
        return dct2(F.adaptive_avg_pool2d(x, self.pool_size), d, d)

    def coefficients(self, x: torch.Tensor) -> torch.Tensor:
        """The B×C×N matrix M of DCT coefficients at the selected frequencies."""
        if self.pool_size is not None:
            return self.spectrum(x)[:, :, self.freq_u, self.freq_v]
        h, w = x.shape[-2:]
        d_h = dct_rows(map_to_size(self.freqs_7[0], h), h, dtype=x.dtype, device=x.device)
        d_w = dct_rows(map_to_size(self.freqs_7[1], w), w, dtype=x.dtype, device=x.device)
        return torch.einsum("nh,bchw,nw->bcn", d_h, x, d_w)

    def gate(self, x: torch.Tensor) -> torch.Tensor:
        """Attention B×C×1×1 in (0, 1)."""
        m = self.coefficients(x)
        b, c, n = m.shape
        if self.excitation == "flatten":
            z = m.reshape(b, c * n)
        elif self.excitation == "freqmix":
            assert self.freq_weight is not None
            z = m @ self.freq_weight.to(m.dtype)
        else:
            group = c // n
            which = torch.arange(c, device=m.device) // group
            z = m.gather(2, which.view(1, c, 1).expand(b, c, 1)).squeeze(2)
        return self.conv_du(z.view(b, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(x)
