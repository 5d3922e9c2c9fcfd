"""Image-quality metrics as pure functions (MATLAB-protocol PSNR/SSIM on Y, border shave = scale), and
one object interface over them: ``create(name, **options)``, ``available()`` (:mod:`attnsr.metrics.api`)."""

from attnsr.metrics.api import available, create
from attnsr.metrics.lpips import FASRGAN_LPIPS, LPIPS, LPIPSConfig, load_lpips_model
from attnsr.metrics.niqe import niqe
from attnsr.metrics.nrqm import NrqmModel, load_nrqm_model, nrqm, nrqm_features
from attnsr.metrics.pi import PIResult, perceptual_index
from attnsr.metrics.psnr import psnr
from attnsr.metrics.spectrum import Spectrum, radial_power
from attnsr.metrics.ssim import ssim

__all__ = ["create", "available", "psnr", "ssim", "LPIPS", "LPIPSConfig", "FASRGAN_LPIPS", "load_lpips_model", "niqe",
           "nrqm", "nrqm_features", "load_nrqm_model", "NrqmModel", "perceptual_index", "PIResult",
           "radial_power", "Spectrum"]
