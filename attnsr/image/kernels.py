"""Blur kernels of the blind-SR degradation models (Real-ESRGAN, BSRGAN): pure float64 tensors.

Every kernel is a (k, k) float64 tensor on an odd grid centred at (k-1)/2 that sums to 1.

* bivariate Gaussian ``exp(-½ xᵀΣ⁻¹x)`` (isotropic: Σ = σ²I; anisotropic: Σ = R diag(σx², σy²) Rᵀ
  with R the rotation by θ);
* generalized Gaussian ``exp(-½ (xᵀΣ⁻¹x)^β)`` (β < 1 heavy tails, β > 1 flatter top);
* plateau ``1 / (1 + (xᵀΣ⁻¹x)^β)``;
* 2-D sinc (ideal circular low-pass with cut-off ω_c, radians per pixel):
  ``ω_c J₁(ω_c r) / (2π r)``, value ``ω_c² / (4π)`` at r = 0; it rings, which imitates the
  overshoot of sharpened or resampled photos.

:func:`random_kernel` draws one of them as Real-ESRGAN's ``random_mixed_kernels`` + sinc choice does:
odd size in ``sizes``, kind by probability, σ in ``sigma``, θ in [-π, π), β drawn below or above 1 with
equal probability, and with probability ``sinc_prob`` a sinc whose ω_c is in [π/3, π] for sizes < 13
and [π/5, π] otherwise. Kernels are zero-padded to ``pad_to`` (Real-ESRGAN pads to 21) so a batch can
share one shape. All randomness comes from the generator passed in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from attnsr.errors import ConfigError

KINDS = ("iso", "aniso", "generalized_iso", "generalized_aniso", "plateau_iso", "plateau_aniso")


def _grid(size: int, shift: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    if size < 1 or size % 2 == 0:
        raise ConfigError(f"blur kernel size must be a positive odd number, got {size}")
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0 - shift
    return t[None, :].expand(size, size), t[:, None].expand(size, size)  # x (columns), y (rows)


def _quadratic_form(size: int, sigma_x: float, sigma_y: float, theta: float, shift: float = 0.0) -> torch.Tensor:
    """xᵀΣ⁻¹x on the grid, Σ = R diag(σx², σy²) Rᵀ."""
    if sigma_x <= 0 or sigma_y <= 0:
        raise ConfigError(f"blur kernel sigmas must be > 0, got {sigma_x}, {sigma_y}")
    x, y = _grid(size, shift)
    c, s = math.cos(theta), math.sin(theta)
    u = c * x + s * y  # coordinates in the kernel's principal axes
    v = -s * x + c * y
    return (u / sigma_x) ** 2 + (v / sigma_y) ** 2


def _normalised(k: torch.Tensor) -> torch.Tensor:
    return k / k.sum()


def gaussian(size: int, sigma_x: float, sigma_y: float | None = None, theta: float = 0.0, *,
             shift: float = 0.0) -> torch.Tensor:
    """Bivariate Gaussian kernel; ``sigma_y=None`` is isotropic; ``shift`` moves the centre right/down
    by that many pixels (BSRGAN's shifted kernel before nearest downsampling)."""
    q = _quadratic_form(size, sigma_x, sigma_x if sigma_y is None else sigma_y, theta, shift)
    return _normalised(torch.exp(-0.5 * q))


def generalized_gaussian(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float) -> torch.Tensor:
    """``exp(-½ (xᵀΣ⁻¹x)^β)``, normalised; β = 1 is the Gaussian."""
    if beta <= 0:
        raise ConfigError(f"generalized Gaussian beta must be > 0, got {beta}")
    return _normalised(torch.exp(-0.5 * _quadratic_form(size, sigma_x, sigma_y, theta) ** beta))


def plateau(size: int, sigma_x: float, sigma_y: float, theta: float, beta: float) -> torch.Tensor:
    """``1 / (1 + (xᵀΣ⁻¹x)^β)``, normalised."""
    if beta <= 0:
        raise ConfigError(f"plateau beta must be > 0, got {beta}")
    return _normalised(1.0 / (1.0 + _quadratic_form(size, sigma_x, sigma_y, theta) ** beta))


def sinc(size: int, cutoff: float) -> torch.Tensor:
    """2-D circular low-pass (sinc) kernel with cut-off ``cutoff`` in (0, π] radians per pixel."""
    if not 0 < cutoff <= math.pi + 1e-12:
        raise ConfigError(f"sinc cutoff must be in (0, pi], got {cutoff}")
    x, y = _grid(size)
    r = torch.sqrt(x * x + y * y)
    safe = torch.where(r > 0, r, torch.ones_like(r))
    k = cutoff * torch.special.bessel_j1(cutoff * safe) / (2.0 * math.pi * safe)
    k = torch.where(r > 0, k, torch.full_like(k, cutoff * cutoff / (4.0 * math.pi)))
    return _normalised(k)


def delta(size: int = 1) -> torch.Tensor:
    """The identity kernel (1 at the centre)."""
    k = torch.zeros(size, size, dtype=torch.float64)
    k[size // 2, size // 2] = 1.0
    return k


def pad_kernel(k: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad an odd (k, k) kernel to (size, size), centred; a larger kernel is returned as is."""
    p = (size - k.shape[-1]) // 2
    return torch.nn.functional.pad(k, (p, p, p, p)) if p > 0 else k


@dataclass(frozen=True)
class KernelConfig:
    """The random blur kernel of one Real-ESRGAN stage (defaults: the paper's first stage)."""

    kinds: tuple[str, ...] = KINDS
    probs: tuple[float, ...] = (0.45, 0.25, 0.12, 0.03, 0.12, 0.03)
    #: smallest and largest odd kernel size
    sizes: tuple[int, int] = (7, 21)
    sigma: tuple[float, float] = (0.2, 3.0)
    beta_generalized: tuple[float, float] = (0.5, 4.0)
    beta_plateau: tuple[float, float] = (1.0, 2.0)
    sinc_prob: float = 0.1

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - set(KINDS))
        if unknown:
            raise ConfigError(f"kernel.kinds: unknown kind(s) {unknown}; choose from {KINDS}")
        if len(self.kinds) != len(self.probs) or not self.kinds or min(self.probs) < 0 or sum(self.probs) <= 0:
            raise ConfigError(f"kernel.probs: need one non-negative probability per kind, got {self.probs}")
        lo, hi = self.sizes
        if lo < 1 or lo % 2 == 0 or hi % 2 == 0 or hi < lo:
            raise ConfigError(f"kernel.sizes: need odd lo <= hi, got {self.sizes}")
        for name in ("sigma", "beta_generalized", "beta_plateau"):
            a, b = getattr(self, name)
            if a <= 0 or b < a:
                raise ConfigError(f"kernel.{name}: need 0 < lo <= hi, got {(a, b)}")
        if not 0.0 <= self.sinc_prob <= 1.0:
            raise ConfigError(f"kernel.sinc_prob must be in [0, 1], got {self.sinc_prob}")


def uniform(g: torch.Generator, lo: float, hi: float) -> float:
    """One float in [lo, hi) from ``g`` (float64)."""
    return lo + (hi - lo) * float(torch.rand((), generator=g, dtype=torch.float64))


def randint(g: torch.Generator, lo: int, hi: int) -> int:
    """One int in [lo, hi] (inclusive) from ``g``."""
    return int(torch.randint(lo, hi + 1, (), generator=g))


def choice(g: torch.Generator, probs: tuple[float, ...]) -> int:
    """Index drawn with the given (unnormalised) probabilities."""
    p = torch.tensor(probs, dtype=torch.float64)
    return int(torch.multinomial(p / p.sum(), 1, generator=g))


def _beta(g: torch.Generator, lo: float, hi: float) -> float:
    # below or above 1 with equal probability, as basicsr's random_mixed_kernels draws it
    if uniform(g, 0.0, 1.0) < 0.5 and lo < 1.0:
        return uniform(g, lo, min(1.0, hi))
    return uniform(g, max(1.0, lo), hi)


def sinc_cutoff(g: torch.Generator, size: int) -> float:
    """Real-ESRGAN's cut-off draw: [π/3, π] for kernels smaller than 13, else [π/5, π]."""
    return uniform(g, math.pi / 3 if size < 13 else math.pi / 5, math.pi)


def random_kernel(cfg: KernelConfig, g: torch.Generator, *, pad_to: int = 21) -> torch.Tensor:
    """One random kernel as the module docstring describes, padded to ``pad_to``."""
    size = 2 * randint(g, cfg.sizes[0] // 2, cfg.sizes[1] // 2) + 1
    if uniform(g, 0.0, 1.0) < cfg.sinc_prob:
        return pad_kernel(sinc(size, sinc_cutoff(g, size)), pad_to)
    kind = cfg.kinds[choice(g, cfg.probs)]
    sx = uniform(g, *cfg.sigma)
    if kind.endswith("iso") and not kind.endswith("aniso"):
        sy, theta = sx, 0.0
    else:
        sy, theta = uniform(g, *cfg.sigma), uniform(g, -math.pi, math.pi)
    if kind.startswith("generalized"):
        k = generalized_gaussian(size, sx, sy, theta, _beta(g, *cfg.beta_generalized))
    elif kind.startswith("plateau"):
        k = plateau(size, sx, sy, theta, _beta(g, *cfg.beta_plateau))
    else:
        k = gaussian(size, sx, sy, theta)
    return pad_kernel(k, pad_to)
