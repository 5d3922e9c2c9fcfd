"""What a loaded model needs and promises, like spandrel's model descriptor: scale, channels, size
requirements, whether tiling is exact, reduced-precision support and purpose.

Derived from the model itself (its registry tag and the layer types it contains), so no network file
has to declare it: a model holding a global layer (global average pooling, MMCA's pooled DCT attention,
HSPAN's non-local attention, DeFiAN's per-channel means) sees the whole image, so tiles are not exact.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from attnsr.errors import ConfigError

#: registry name -> purpose, where it is not "PSNR" (L1/L2-trained fidelity models)
PURPOSES: dict[str, str] = {"fasrgan": "GAN", "fssrgan": "GAN", "fafssrgan": "GAN", "srvgg": "real-photo"}


@dataclass(frozen=True)
class ModelDescriptor:
    """``multiple_of`` / ``min_size``: the LR height and width the model accepts (every network here
    takes any size >= 1); ``tiles_exact``: tiled output equals the whole-image output up to float
    rounding (only without global layers); ``fp16`` / ``bf16``: runs correctly under that autocast."""

    name: str
    scale: int
    in_channels: int = 3
    out_channels: int = 3
    multiple_of: int = 1
    min_size: int = 1
    tiles_exact: bool = True
    global_layers: tuple[str, ...] = ()
    fp16: bool = True
    bf16: bool = True
    purpose: str = "PSNR"

    def line(self) -> str:
        """One line for ``attnsr models``."""
        tiles = "exact tiles" if self.tiles_exact else f"tiles not exact ({', '.join(self.global_layers)})"
        precision = "/".join(p for p, ok in (("fp16", self.fp16), ("bf16", self.bf16)) if ok) or "fp32 only"
        return (f"x{self.scale}, {self.in_channels}->{self.out_channels} ch, LR >= {self.min_size} px"
                f"{f' (multiple of {self.multiple_of})' if self.multiple_of > 1 else ''}, {tiles}, "
                f"{precision}, {self.purpose}")


def _global_layers(model: nn.Module) -> list[str]:
    from attnsr.models.defian import RCABBlock
    from attnsr.models.fsanet import ChannelAttention
    from attnsr.models.hspan import HSPA
    from attnsr.ops.mmca import MMCA

    kinds = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, MMCA, HSPA, ChannelAttention, RCABBlock)
    return sorted({type(m).__name__ for m in model.modules() if isinstance(m, kinds)})


def describe(model: nn.Module, scale: int | None = None) -> ModelDescriptor:
    """The descriptor of ``model`` (any module mapping (N,3,h,w) to (N,3,sh,sw)); ``scale`` when the
    model does not record it (registry-built and loaded models do)."""
    from attnsr.models.bicubic import Bicubic
    from attnsr.models.hspan import HSPA

    cfg = getattr(model, "attnsr_config", None)
    s = scale or getattr(cfg, "scale", None) or getattr(model, "scale", None)
    if not isinstance(s, int):
        raise ConfigError("describe: cannot tell the model's scale; pass scale=")
    name = getattr(model, "attnsr_name", None) or type(model).__name__.lower()
    if isinstance(model, Bicubic):
        return ModelDescriptor("bicubic", s, purpose="baseline")
    layers = tuple(_global_layers(model))
    # HSPA's unscaled q·k scores overflow float16's range (65504) on real features
    fp16 = not any(isinstance(m, HSPA) for m in model.modules())
    return ModelDescriptor(name, s, in_channels=int(getattr(cfg, "in_nc", 3) or 3),
                           out_channels=int(getattr(cfg, "out_nc", 3) or 3), tiles_exact=not layers,
                           global_layers=layers, fp16=fp16, purpose=PURPOSES.get(name, "PSNR"))
