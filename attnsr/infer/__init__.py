"""Upscaling engine: tiling, self-ensemble, model resolution and export."""
