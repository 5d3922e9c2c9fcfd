"""The frequency view: how much of the HR image's energy an SR result recovers, per frequency band.

Every seed paper claims better high-frequency detail; this measures it. Definitions (all documented in
the CSV header too):

* Frequencies are radial, rho = |f| / f_Nyquist with f in cycles/pixel (so rho = 1 at Nyquist along an
  axis and up to sqrt(2) in the corners); the DC term (rho = 0, the mean brightness) is left out.
* Before the FFT both images are multiplied by a 2-D Hann window, so the periodic wrap of the image
  borders does not smear a false cross of energy over all frequencies. The error is SR - HR (windowed).
* Energy of a band = sum of |FFT|^2 over the band / (H W)^2, i.e. mean-square amplitude per pixel, so
  images of any size weigh the same; channels are summed.
* Bands (``edges``, default 0.25 and 0.5): low rho < 0.25, mid 0.25 <= rho < 0.5, high rho >= 0.5.
  For x4 SR the low band is exactly what the LR input can represent; mid and high must be restored.
* **recovered** = max(0, 1 - E_err / E_hr) per band: the share of the HR band energy that the SR image
  reproduces *in place* (amplitude and phase). An image against itself recovers 100 % in every band; a
  blurred image recovers little at high frequencies; texture at the right strength but the wrong place
  counts as error, and recovered is floored at 0 when the error exceeds the HR energy.
* **energy ratio** = E_sr / E_hr per band, uncapped: how much energy is there at all, right or wrong
  (GAN models can exceed 1 while recovering little; blurry models sit below 1).

``radial_power`` also gives the radially averaged power profile (``n_bins`` bins over rho in [0, 1]) of
HR, SR and the error, which is what :func:`plot_spectrum` draws.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from attnsr.errors import AttnsrError, ImageError

BANDS = ("low", "mid", "high")
DEFAULT_EDGES = (0.25, 0.5)


@dataclass(frozen=True)
class Spectrum:
    """Energies summed over ``count`` images (divide by count for means); float64 tensors.

    ``profile_*``: (n_bins,) mean power per radial bin (bins split [0, 1] evenly); ``band_*``: (3,) energy
    of the low/mid/high bands; ``edges``: the two band boundaries in units of Nyquist.
    """

    profile_hr: torch.Tensor
    profile_sr: torch.Tensor
    profile_err: torch.Tensor
    band_hr: torch.Tensor
    band_sr: torch.Tensor
    band_err: torch.Tensor
    edges: tuple[float, float]
    count: int

    @property
    def recovered(self) -> torch.Tensor:
        """(3,) max(0, 1 - E_err / E_hr) per band; 1.0 = everything recovered (NaN for an empty band)."""
        return (1 - self.band_err / self.band_hr).clamp(min=0)

    @property
    def energy_ratio(self) -> torch.Tensor:
        """(3,) E_sr / E_hr per band, uncapped."""
        return self.band_sr / self.band_hr

    @property
    def bin_edges(self) -> torch.Tensor:
        """(n_bins + 1,) radial bin edges of the profiles, in units of Nyquist."""
        return torch.linspace(0, 1, self.profile_hr.numel() + 1, dtype=torch.float64)


def _hann2d(h: int, w: int, device: torch.device) -> torch.Tensor:
    wy = torch.hann_window(h, periodic=False, dtype=torch.float64, device=device)
    wx = torch.hann_window(w, periodic=False, dtype=torch.float64, device=device)
    return wy[:, None] * wx[None, :]


def _rho(h: int, w: int, device: torch.device) -> torch.Tensor:
    """(H, W) radial frequency of each FFT coefficient in units of Nyquist (0.5 cycles/pixel)."""
    fy = torch.fft.fftfreq(h, dtype=torch.float64, device=device)
    fx = torch.fft.fftfreq(w, dtype=torch.float64, device=device)
    return torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2) / 0.5


def _power(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (N, H, W) per-pixel-normalised power, channels summed."""
    h, w = x.shape[-2:]
    return (torch.fft.fft2(x).abs() ** 2).sum(1) / float(h * w) ** 2


def radial_power(sr: torch.Tensor, hr: torch.Tensor, *, n_bins: int = 64,
                 edges: tuple[float, float] = DEFAULT_EDGES, window: bool = True) -> Spectrum:
    """Spectrum of a batch of SR/HR pairs (N, C, H, W) float, any range; summed over the N images."""
    if sr.shape != hr.shape or sr.dim() != 4:
        raise ImageError(f"spectrum: expected SR and HR of one shape (N, C, H, W), got {tuple(sr.shape)} "
                         f"and {tuple(hr.shape)}")
    if not 0 < edges[0] < edges[1]:
        raise AttnsrError(f"spectrum: band edges must satisfy 0 < low < high, got {edges}")
    n, _, h, w = hr.shape
    hr64, sr64 = hr.detach().double(), sr.detach().double()
    if window:
        win = _hann2d(h, w, hr64.device)
        hr64, sr64 = hr64 * win, sr64 * win
    powers = [_power(t).sum(0) for t in (hr64, sr64, sr64 - hr64)]  # each (H, W), summed over images
    rho = _rho(h, w, hr64.device)
    ac = rho > 0  # leave out DC
    band_of = torch.bucketize(rho, torch.tensor(edges, dtype=torch.float64, device=rho.device), right=True)
    bands = [torch.stack([p[ac & (band_of == b)].sum() for b in range(3)]) for p in powers]
    in_profile = ac & (rho <= 1)
    bin_of = torch.clamp((rho[in_profile] * n_bins).long(), max=n_bins - 1)
    counts = torch.bincount(bin_of, minlength=n_bins).clamp(min=1).double()
    profiles = [torch.bincount(bin_of, weights=p[in_profile], minlength=n_bins) / counts for p in powers]
    return Spectrum(profiles[0], profiles[1], profiles[2], bands[0], bands[1], bands[2],
                    edges=(float(edges[0]), float(edges[1])), count=n)


def combine(spectra: Sequence[Spectrum]) -> Spectrum:
    """Pool the spectra of several images or batches (e.g. a dataset of differently sized images)."""
    if not spectra:
        raise AttnsrError("spectrum.combine: nothing to combine")
    first = spectra[0]
    if any(s.edges != first.edges or s.profile_hr.numel() != first.profile_hr.numel() for s in spectra):
        raise AttnsrError("spectrum.combine: spectra differ in band edges or number of bins")
    fields = ("profile_hr", "profile_sr", "profile_err", "band_hr", "band_sr", "band_err")
    sums = {f: torch.stack([getattr(s, f) for s in spectra]).sum(0) for f in fields}
    return Spectrum(**sums, edges=first.edges, count=sum(s.count for s in spectra))


def band_rows(spectra: Mapping[str, Spectrum]) -> list[dict[str, object]]:
    """One row per (label, band): the table the CSV holds, means per image."""
    rows = []
    for label, s in spectra.items():
        bounds = (0.0, *s.edges, 2**0.5)
        for b, name in enumerate(BANDS):
            rows.append({
                "label": label, "band": name, "rho_from": bounds[b], "rho_to": bounds[b + 1],
                "energy_hr": float(s.band_hr[b]) / s.count, "energy_sr": float(s.band_sr[b]) / s.count,
                "energy_err": float(s.band_err[b]) / s.count, "recovered": float(s.recovered[b]),
                "energy_ratio": float(s.energy_ratio[b]),
            })
    return rows


def write_spectrum_csv(path: Path, spectra: Mapping[str, Spectrum]) -> Path:
    """Band table (see :func:`band_rows`) as CSV; a second file ``<stem>_profile.csv`` holds the profiles."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = band_rows(spectra)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]) if rows else ["label"])
        writer.writeheader()
        writer.writerows(rows)
    with path.with_name(f"{path.stem}_profile.csv").open("w", newline="") as f:
        profile = csv.writer(f)
        profile.writerow(["label", "rho_from", "rho_to", "power_hr", "power_sr", "power_err"])
        for label, s in spectra.items():
            e = s.bin_edges.tolist()
            for i in range(s.profile_hr.numel()):
                profile.writerow([label, e[i], e[i + 1], *(float(p[i]) / s.count
                                                          for p in (s.profile_hr, s.profile_sr, s.profile_err))])
    return path


def plot_spectrum(path: Path, spectra: Mapping[str, Spectrum], title: str = "") -> Path:
    """PNG of the radial power profiles: HR (from the first entry), each SR, each error dashed; log scale.

    Needs matplotlib (``pip install 'attnsr[plot]'``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise AttnsrError("spectrum plot needs matplotlib: pip install 'attnsr[plot]' (or matplotlib)") from None
    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=120)
    for i, (label, s) in enumerate(spectra.items()):
        e = s.bin_edges
        mid = ((e[1:] + e[:-1]) / 2).numpy()
        if i == 0:
            ax.semilogy(mid, (s.profile_hr / s.count).numpy(), color="black", lw=2, label="HR")
        line = ax.semilogy(mid, (s.profile_sr / s.count).numpy(), label=label)[0]
        ax.semilogy(mid, (s.profile_err / s.count).numpy(), ls="--", color=line.get_color(), label=f"{label} error")
    for edge in next(iter(spectra.values())).edges if spectra else ():
        ax.axvline(edge, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("radial frequency / Nyquist")
    ax.set_ylabel("power per pixel")
    ax.set_title(title)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
