"""Image-quality metrics as pure functions (MATLAB-protocol PSNR/SSIM on Y, border shave = scale)."""

from attnsr.metrics.psnr import psnr
from attnsr.metrics.ssim import ssim

__all__ = ["psnr", "ssim"]
