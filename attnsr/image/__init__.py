"""Pure image functions: file I/O, MATLAB-exact bicubic resize, BT.601 colour, degradations."""

from attnsr.image.color import rgb_to_y, rgb_to_ycbcr, ycbcr_to_rgb
from attnsr.image.degrade import degrade, gaussian_blur, gaussian_kernel, quantize_uint8
from attnsr.image.io import LoadedImage, from_uint8, load_image, read_rgb, save_image, to_uint8
from attnsr.image.resize import imresize, modcrop

__all__ = [
    "LoadedImage",
    "degrade",
    "from_uint8",
    "gaussian_blur",
    "gaussian_kernel",
    "imresize",
    "load_image",
    "modcrop",
    "quantize_uint8",
    "read_rgb",
    "rgb_to_y",
    "rgb_to_ycbcr",
    "save_image",
    "to_uint8",
    "ycbcr_to_rgb",
]
