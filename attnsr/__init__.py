"""attnsr: attention- and frequency-based single-image super-resolution in PyTorch.

Public API (everything else is reachable through the subpackages):

    from attnsr import Upscaler, create, from_official, load_model
    model = from_official("FSANet_x2.pth")          # official checkpoint -> network in eval mode
    sr = Upscaler(model).upscale(pil_image)          # any size, tiled, same kind of image back
"""

from attnsr.errors import AttnsrError, CheckpointError, ConfigError, ImageError
from attnsr.infer.engine import Upscaler
from attnsr.models import create, from_official, load_model, save_model

__version__ = "0.1.0"

__all__ = [
    "AttnsrError",
    "CheckpointError",
    "ConfigError",
    "ImageError",
    "Upscaler",
    "__version__",
    "create",
    "from_official",
    "load_model",
    "save_model",
]
