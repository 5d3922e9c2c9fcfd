"""Complex steerable pyramid in the Fourier domain (Simoncelli's ``buildSCFpyr``, matlabPyrTools).

Used by the NRQM metric (:mod:`attnsr.metrics.nrqm`). Construction, as matlabPyrTools does it:

* frequency grid: ``(k - n//2) / (n/2)`` per axis after ``fftshift``; ``log2`` of the radius (the DC
  radius copied from its left neighbour) and ``angle = atan2(row, col)``;
* radial masks: a raised cosine in log2-frequency, one octave wide (``rcosFn(1, -1/2)``), square-rooted
  so that ``high^2 + low^2 = 1`` at every frequency (a tight frame);
* per level the transition moves one octave down; ``nbands`` angular masks
  ``2 sqrt(c) cos(theta - pi b / K)^(K-1)`` on one half-plane only (the complex, analytic bands), times
  ``(-i)^(K-1)``; ``c`` makes the real parts' squared masks sum to one over the K bands;
* the low-pass spectrum is cropped to half size (centre kept) before the next level, so level ``l``
  bands are ``2^-l`` of the image size (rounded up) and the DFT is not rescaled.

Masks are built with linear interpolation in lookup tables (``np.interp``, constant beyond the ends),
as ``pointOp`` does; all arithmetic is float64/complex128.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from attnsr.errors import ImageError

_RCOS_POINTS = 256  # rcosFn's table size
_ANGLE_LUT = 1024  # buildSCFpyr's angular table size


@dataclass(frozen=True, eq=False)
class SteerablePyramid:
    """``highpass`` (H, W) real; ``bands[level][orientation]`` complex, level 0 at full size;
    ``lowpass`` real residual at the size of the last level halved."""

    highpass: np.ndarray
    bands: tuple[tuple[np.ndarray, ...], ...]
    lowpass: np.ndarray


def _raised_cosine(width: float = 1.0, position: float = -0.5) -> tuple[np.ndarray, np.ndarray]:
    """matlabPyrTools ``rcosFn``: x positions and cos^2 values of a 0 -> 1 transition ``width`` wide."""
    n = _RCOS_POINTS
    x = np.pi * np.arange(-n - 1, 2, dtype=np.float64) / (2 * n)
    y = np.cos(x) ** 2
    y[0] = y[1]
    y[n + 2] = y[n + 1]
    return position + 2 * width / np.pi * (x + np.pi / 4), y


def _polar_grid(h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """log2 radius and angle of the fftshift-ed DFT grid of an (h, w) image."""
    rows = (np.arange(h, dtype=np.float64) - h // 2) / (h / 2)
    cols = (np.arange(w, dtype=np.float64) - w // 2) / (w / 2)
    yy, xx = np.meshgrid(rows, cols, indexing="ij")
    rad = np.sqrt(xx**2 + yy**2)
    rad[h // 2, w // 2] = rad[h // 2, w // 2 - 1]
    return np.log2(rad), np.arctan2(yy, xx)


def _angle_table(nbands: int) -> tuple[np.ndarray, np.ndarray]:
    """Angular lookup table of one orientation band (buildSCFpyr's Xcosn, Ycosn)."""
    order = nbands - 1
    const = 2.0 ** (2 * order) * math.factorial(order) ** 2 / (nbands * math.factorial(2 * order))
    x = np.pi * np.arange(-(2 * _ANGLE_LUT + 1), _ANGLE_LUT + 2, dtype=np.float64) / _ANGLE_LUT
    alpha = np.mod(np.pi + x, 2 * np.pi) - np.pi
    y = 2 * math.sqrt(const) * np.cos(x) ** order * (np.abs(alpha) < np.pi / 2)
    return x, y


def _half_crop(shape: tuple[int, int]) -> tuple[slice, slice]:
    """buildSCFpyrLevs' centred crop of a shifted spectrum to the next (half) level."""
    out = []
    for n in shape:
        ctr = math.ceil((n + 0.5) / 2)
        lo = math.ceil((n - 0.5) / 2)
        start = ctr - math.ceil((lo + 0.5) / 2)
        out.append(slice(start, start + lo))
    return out[0], out[1]


def steerable_pyramid(img: np.ndarray, height: int, nbands: int) -> SteerablePyramid:
    """Complex steerable pyramid of a 2-D float image: ``height`` levels of ``nbands`` orientations.

    Band ``b`` is tuned to the frequency angle ``pi b / nbands`` (b = 0: horizontal frequencies, i.e.
    vertical structures). Requires ``height <= floor(log2(min(H, W))) - 2`` like matlabPyrTools.
    """
    img = np.asarray(img, dtype=np.float64)
    if img.ndim != 2:
        raise ImageError(f"steerable_pyramid: expected a 2-D image, got shape {img.shape}")
    if height < 1 or height > math.floor(math.log2(min(img.shape))) - 2:
        raise ImageError(f"steerable_pyramid: cannot build {height} levels on an image of shape {img.shape}")
    log_rad, angle = _polar_grid(*img.shape)
    xr, yr = _raised_cosine()
    high_tab, low_tab = np.sqrt(yr), np.sqrt(np.abs(1.0 - yr))
    xa, ya = _angle_table(nbands)
    rotate = (-1j) ** (nbands - 1)
    dft = np.fft.fftshift(np.fft.fft2(img))
    highpass = np.fft.ifft2(np.fft.ifftshift(dft * np.interp(log_rad, xr, high_tab))).real
    lodft = dft * np.interp(log_rad, xr, low_tab)
    levels = []
    for _ in range(height):
        xr = xr - 1.0
        himask = np.interp(log_rad, xr, high_tab)
        bands = []
        for b in range(nbands):
            anglemask = np.interp(angle, xa + np.pi * b / nbands, ya)
            bands.append(np.fft.ifft2(np.fft.ifftshift(rotate * lodft * anglemask * himask)))
        levels.append(tuple(bands))
        crop = _half_crop(lodft.shape)
        log_rad, angle, lodft = log_rad[crop], angle[crop], lodft[crop]
        lodft = lodft * np.interp(log_rad, xr, low_tab)
    lowpass = np.fft.ifft2(np.fft.ifftshift(lodft)).real
    return SteerablePyramid(highpass=highpass, bands=tuple(levels), lowpass=lowpass)
