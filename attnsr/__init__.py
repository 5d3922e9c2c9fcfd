"""attnsr: attention- and frequency-based single-image super-resolution in PyTorch."""

__version__ = "0.1.0"

__all__ = ["__version__"]
