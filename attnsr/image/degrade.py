"""The three benchmark degradations (RDN protocol, used by DeFiAN and most seed papers): BI, BD, DN.

* BI: MATLAB bicubic ``imresize(HR, 1/s)``.
* BD: Gaussian blur (``blur_size`` x ``blur_size``, sigma ``blur_sigma``; default 7x7, 1.6 — RDN's x3
  setting) with replicate padding (MATLAB ``imfilter(.., fspecial('gaussian'), 'replicate')``), then
  downsampling by ``bd_downsample``: ``"nearest"`` (default) keeps every s-th pixel starting at offset
  (s-1)//2, which is what RDN's ``Prepare_TestData_HR_LR.m`` does (MATLAB ``imresize(.., 'nearest')``
  for odd s, ``blur(s/2:s:end)`` for even s); ``"bicubic"`` uses MATLAB bicubic instead (DeFiAN's own
  ``SRMDPreprocessing`` does this, with reflect instead of replicate padding; see specs/defian.md §10).
  RDN uses a 12x12 kernel for even scales; pass ``blur_size=12`` to reproduce that.
* DN: bicubic downscale, then i.i.d. Gaussian noise with std ``noise_sigma`` on the 0-255 scale,
  then rounding/saturation to uint8 levels (RDN's ``uint8(single(LR) + sigma*randn)``).

With ``quantize`` every stage that MATLAB does on uint8 images is rounded to the 1/255 grid and
clamped to [0, 1] (stored LR files are 8-bit); with ``quantize=False`` everything stays float
(useful for training on the fly). Computation is in float64 for MATLAB agreement; the result has
the input's dtype and device. Pure: the only randomness is DN's, drawn from ``generator``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from attnsr.errors import ConfigError, ImageError
from attnsr.image.resize import imresize

KINDS = ("BI", "BD", "DN")
BD_DOWNSAMPLERS = ("nearest", "bicubic")


def quantize_uint8(x: torch.Tensor) -> torch.Tensor:
    """Round [0, 1] values to the nearest 1/255 level (half away from zero, like MATLAB ``im2uint8``)
    and clamp to [0, 1]; returns the same dtype, still scaled to [0, 1]."""
    return torch.floor(x.clamp(0, 1) * 255.0 + 0.5) / 255.0


def to_uint8_levels(x: torch.Tensor, dtype: torch.dtype | None = None, *,
                    as_uint8: bool = False) -> torch.Tensor:
    """Convert between [0, 1] floats and a uint8 tensor: ``as_uint8`` rounds (half up) and clamps to
    uint8; otherwise a uint8 tensor becomes float ``dtype`` in [0, 1]."""
    if as_uint8:
        return torch.floor(x.clamp(0, 1) * 255.0 + 0.5).to(torch.uint8)
    return x.to(dtype or torch.float32) / 255.0


def gaussian_kernel(size: int, sigma: float) -> torch.Tensor:
    """MATLAB ``fspecial('gaussian', size, sigma)``: exp(-(u²+v²)/(2σ²)) on offsets centred at
    (size-1)/2 (half-integers for even sizes), normalised to sum 1. float64 (size, size)."""
    if size < 1 or sigma <= 0:
        raise ConfigError(f"gaussian_kernel: need size >= 1 and sigma > 0, got size={size}, sigma={sigma}")
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2.0
    g = torch.exp(-(t[:, None] ** 2 + t[None, :] ** 2) / (2.0 * sigma * sigma))
    return g / g.sum()


def gaussian_blur(x: torch.Tensor, size: int, sigma: float) -> torch.Tensor:
    """Per-channel correlation of (N, C, H, W) with :func:`gaussian_kernel`, replicate padding, same size
    (MATLAB ``imfilter`` 'replicate'; for even sizes MATLAB's centre is the lower-right of the middle,
    i.e. padding size//2 before and (size-1)//2 after)."""
    k = gaussian_kernel(size, sigma).to(device=x.device, dtype=x.dtype)
    c = x.shape[1]
    before, after = size // 2, (size - 1) // 2
    padded = F.pad(x, (before, after, before, after), mode="replicate")
    return F.conv2d(padded, k.expand(c, 1, size, size), groups=c)


def _downsample(x: torch.Tensor, scale: int, method: str, quantize: bool) -> torch.Tensor:
    if method == "nearest":
        off = (scale - 1) // 2
        h, w = x.shape[-2] // scale, x.shape[-1] // scale
        return x[..., off::scale, off::scale][..., :h, :w]
    if not quantize:
        return imresize(x, 1.0 / scale)
    # uint8 in, uint8 out, rounded after each 1-D pass: exactly MATLAB imresize on an 8-bit image
    return to_uint8_levels(imresize(to_uint8_levels(x, as_uint8=True), 1.0 / scale), x.dtype)


def degrade(hr: torch.Tensor, scale: int, kind: str = "BI", *, blur_sigma: float = 1.6, blur_size: int = 7,
            noise_sigma: float = 30.0, generator: torch.Generator | None = None, quantize: bool = True,
            bd_downsample: str = "nearest") -> torch.Tensor:
    """Make an LR image from ``hr`` ((C, H, W) or (N, C, H, W) float in [0, 1], H and W multiples of
    ``scale`` — modcrop first) with degradation ``kind`` in BI/BD/DN; see the module docstring.

    Returns (C, H/s, W/s) or (N, C, H/s, W/s), same dtype/device as ``hr``. When ``quantize`` the
    HR is first rounded to uint8 levels too (the MATLAB scripts read 8-bit files).
    """
    if kind not in KINDS:
        raise ConfigError(f"degrade: unknown degradation {kind!r}; choose one of {', '.join(KINDS)}")
    if bd_downsample not in BD_DOWNSAMPLERS:
        raise ConfigError(f"degrade: unknown bd_downsample {bd_downsample!r}; choose {BD_DOWNSAMPLERS}")
    if not isinstance(scale, int) or scale < 1:
        raise ConfigError(f"degrade: scale must be a positive integer, got {scale!r}")
    if hr.dim() not in (3, 4) or not hr.is_floating_point():
        raise ImageError(f"degrade: expected a float tensor (C, H, W) or (N, C, H, W), got "
                         f"{tuple(hr.shape)} {hr.dtype}")
    if hr.shape[-2] % scale or hr.shape[-1] % scale:
        raise ImageError(f"degrade: size {tuple(hr.shape[-2:])} is not a multiple of scale {scale}; "
                         "apply modcrop first")
    batched = hr.dim() == 4
    x = (hr if batched else hr.unsqueeze(0)).to(torch.float64)
    if quantize:
        x = quantize_uint8(x)
    if kind == "BD":
        x = gaussian_blur(x, blur_size, blur_sigma)
        if quantize:
            x = quantize_uint8(x)
        lr = _downsample(x, scale, bd_downsample, quantize)
    else:
        lr = _downsample(x, scale, "bicubic", quantize)
    if kind == "DN":
        noise = torch.randn(lr.shape, generator=generator, dtype=torch.float64, device="cpu")
        lr = lr + noise.to(lr.device) * (noise_sigma / 255.0)
        if quantize:
            lr = quantize_uint8(lr)
    lr = lr.to(hr.dtype)
    return lr if batched else lr.squeeze(0)

