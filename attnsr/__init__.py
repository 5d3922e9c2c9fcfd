"""attnsr: attention- and frequency-based single-image super-resolution in PyTorch.

Public API (everything else is reachable through the subpackages):

    from attnsr import Upscaler, create, from_official, load_model
    model = from_official("FSANet_x2.pth")          # official checkpoint -> network in eval mode
    sr = Upscaler(model).upscale(pil_image)          # any size, tiled, same kind of image back
"""

from typing import TYPE_CHECKING, Any

from attnsr.errors import AttnsrError, CheckpointError, ConfigError, ImageError

__version__ = "0.1.0"

if TYPE_CHECKING:
    from attnsr.infer.engine import Upscaler
    from attnsr.models import create, from_official, load_model, save_model

#: public names that need torch, imported on first use so that ``attnsr --version``/``--help`` stay instant
_LAZY = {"Upscaler": "attnsr.infer.engine", "create": "attnsr.models", "from_official": "attnsr.models",
         "load_model": "attnsr.models", "save_model": "attnsr.models"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'attnsr' has no attribute {name!r}")

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
