"""Turn what a user names (``bicubic``, ``default``, a bundled model, a registry name + weights file)
into a ready model: the single place ``attnsr upscale``, ``attnsr eval`` and ``attnsr compare`` share."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from attnsr.errors import ConfigError
from attnsr.models.bicubic import Bicubic

if TYPE_CHECKING:
    from attnsr.infer.engine import EngineOptions, Upscaler

#: the bundled family that ``--model default`` names (trained here, see configs/bundled/)
DEFAULT_BUNDLED = "attnsr-small"
#: short ``--model`` names of bundled families: the bicubic-benchmark default, the real-photo model and its
#: adversarially fine-tuned (sharper) variant
BUNDLED_ALIASES = {"default": DEFAULT_BUNDLED, "photo": "attnsr-photo", "photo-gan": "attnsr-photo-gan"}
#: GAN families and the PSNR family each was fine-tuned from (same architecture): ``--model photo-gan:S``
#: interpolates their weights, S = 0 the PSNR model, 1 the GAN model (ESRGAN's network interpolation)
GAN_BASES = {"attnsr-photo-gan": "attnsr-photo"}
DEFAULT_SCALE = 2
_BUNDLED_RE = re.compile(r"^(?P<name>.+)_x(?P<scale>\d+)\.safetensors$")


def bundled_models() -> dict[tuple[str, int], Path]:
    """(name, scale) -> file of every model shipped inside the package."""
    folder = resources.files("attnsr") / "assets" / "models"
    found: dict[tuple[str, int], Path] = {}
    if folder.is_dir():
        for item in folder.iterdir():
            m = _BUNDLED_RE.match(item.name)
            if m:
                found[(m["name"], int(m["scale"]))] = Path(str(item))
    return dict(sorted(found.items()))


@dataclass(frozen=True)
class Resolved:
    model: nn.Module
    scale: int
    label: str
    chop_name: str | None = None


def resolve_model(
    model: str | None = None, weights: str | Path | None = None, scale: int | None = None, *, chop: bool = False
) -> Resolved:
    """Resolve ``--model``/``--weights``/``--scale`` to a model in eval mode (on CPU)."""
    from attnsr.models import all_entries, from_official

    name = (model or ("default" if weights is None else "")).lower()
    if weights is not None:
        arch = name if name in all_entries() else None
        if name and arch is None:
            raise ConfigError(f"--model {model!r} with --weights: name a registry network or leave --model out")
        net = from_official(weights, arch=arch, scale=scale)
        net_scale = int(getattr(net, "attnsr_config").scale)
        if scale is not None and scale != net_scale:
            raise ConfigError(f"{weights}: model is x{net_scale}, --scale asked for x{scale}")
        return Resolved(net, net_scale, Path(weights).stem, str(getattr(net, "attnsr_name")) if chop else None)
    if name == "bicubic":
        s = scale or DEFAULT_SCALE
        return Resolved(Bicubic(s), s, "bicubic")
    bundled = bundled_models()
    name, colon, strength_text = name.partition(":")
    family = BUNDLED_ALIASES.get(name, name)
    s = scale or DEFAULT_SCALE
    if colon:
        strength = _blend_strength(model or "", family, strength_text)
    if (family, s) in bundled:
        from attnsr.models import load_model

        net = load_model(bundled[(family, s)])
        label = f"{family}_x{s}"
        if colon and (GAN_BASES[family], s) in bundled:
            base = load_model(bundled[(GAN_BASES[family], s)])
            net.load_state_dict(interpolate_weights(base.state_dict(), net.state_dict(), strength))
            label += f"@{strength:g}"
        elif colon:
            raise ConfigError(f"--model {model}: no x{s} {GAN_BASES[family]} model is shipped to blend with")
        return Resolved(net, s, label, str(getattr(net, "attnsr_name")) if chop else None)
    if name in all_entries():
        raise ConfigError(f"--model {name}: give --weights FILE (an official or attnsr checkpoint); "
                          "a network without trained weights would output noise")
    known = ", ".join(sorted({f"{n} (x{s})" for (n, s) in bundled})) or "none shipped"
    raise ConfigError(f"--model {model!r} x{s}: not a bundled model (bundled: {known}), 'bicubic', or a "
                      "registry network with --weights")


def _blend_strength(model: str, family: str, text: str) -> float:
    """S of ``--model photo-gan:S``, checked: a GAN family with a shipped base, 0 <= S <= 1."""
    if family not in GAN_BASES:
        gans = ", ".join(f"{k}:S" for k, v in BUNDLED_ALIASES.items() if v in GAN_BASES)
        raise ConfigError(f"--model {model}: only a GAN model can be blended with its PSNR model ({gans})")
    try:
        strength = float(text)
    except ValueError:
        strength = math.nan
    if not 0.0 <= strength <= 1.0:  # also false for NaN
        raise ConfigError(f"--model {model}: S in NAME:S must be a number from 0 (PSNR model) to 1 (GAN model)")
    return strength


def interpolate_weights(base: dict[str, torch.Tensor], other: dict[str, torch.Tensor],
                        strength: float) -> dict[str, torch.Tensor]:
    """ESRGAN's network interpolation: (1 - strength) * base + strength * other, tensor by tensor; both state
    dicts of one architecture (same keys and shapes); integer buffers are taken from ``other``."""
    if base.keys() != other.keys() or any(base[k].shape != other[k].shape for k in base):
        raise ConfigError("cannot interpolate weights of two different architectures")
    return {k: torch.lerp(base[k], v, strength) if v.is_floating_point() else v.clone() for k, v in other.items()}


class CountingChop:
    """An official chopped forward that reports each forward of the network (one crop) to ``progress``:
    the number of crops is not known ahead."""

    def __init__(self, chop: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> None:
        self.chop = chop
        self.progress: Callable[[int], object] = lambda _n: None

    def _crop_done(self, *_: object) -> None:  # None: a forward hook's return value would replace the output
        self.progress(1)

    def __call__(self, net: nn.Module, x: torch.Tensor) -> torch.Tensor:  # the engine passes its own copy
        handle = net.register_forward_hook(self._crop_done)
        try:
            return self.chop(net, x)
        finally:
            handle.remove()


def build_engine(
    model: str | None = None, weights: str | Path | None = None, scale: int | None = None, *,
    device: str = "auto", threads: int = 0, chop: bool = False, options: EngineOptions | None = None,
) -> tuple[Upscaler, Resolved]:
    """The engine for what a user names (:func:`resolve_model`), run as the command-line tools run it.

    On CPU (``device`` auto or cpu) the process is tuned first: ``threads`` torch threads (0: the cores
    not kept busy by other processes, :func:`attnsr.threads.apply_default_threads`) and glibc keeping
    freed activation buffers (:func:`attnsr.infer.memory.keep_freed_memory`); on other devices only a
    positive ``threads`` is applied. ``chop``: the network's official chopped forward instead of tiling
    (HSPAN, FSANet), wrapped in a :class:`CountingChop` so its crops can be counted. ``options``: the
    engine's (:class:`~attnsr.infer.engine.EngineOptions`; None: its defaults)."""
    from attnsr.infer.engine import Upscaler
    from attnsr.infer.memory import keep_freed_memory
    from attnsr.models import get_entry
    from attnsr.threads import apply_default_threads

    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ConfigError(f"--threads: expected 0 (automatic) or a positive count, got {threads}")
    on_cpu = str(device).startswith(("auto", "cpu"))
    if on_cpu:
        apply_default_threads(threads)
    elif threads:
        torch.set_num_threads(threads)
    if on_cpu:
        keep_freed_memory()
    resolved = resolve_model(model, weights, scale, chop=chop)
    counting = None
    if chop:
        entry = get_entry(resolved.chop_name) if resolved.chop_name else None
        if entry is None or entry.chop is None:
            raise ConfigError(f"--chop: {resolved.label} has no official chopped forward (HSPAN and FSANet do)")
        counting = CountingChop(entry.chop)
    engine = Upscaler(resolved.model, scale=resolved.scale, device=device, chop=counting, options=options)
    return engine, resolved
