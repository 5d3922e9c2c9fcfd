"""The models a server offers: every bundled family (so a new one appears without code changes), bicubic,
and each ``--weights`` file loaded at start. Built once; read-only afterwards."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from attnsr.errors import ConfigError
from attnsr.infer.resolve import (
    BUNDLED_ALIASES,
    DEFAULT_BUNDLED,
    GAN_BASES,
    Bicubic,
    bundled_models,
    resolve_model,
)

BICUBIC_SCALES = (2, 3, 4)
#: the blend of a GAN family with its PSNR base that the menu offers beside the two (``--model NAME:S``)
BLEND_STRENGTH = 0.5


@dataclass(frozen=True)
class ModelChoice:
    """One entry of the model menu. ``load(scale)`` returns a fresh network (RGB [0,1] in and out, on the
    CPU, eval mode) that the caller may move and fold; ``kind``: bundled, bicubic, weights or custom."""

    id: str
    label: str
    kind: str
    scales: tuple[int, ...]
    load: Callable[[int], nn.Module]

    def describe(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "kind": self.kind, "scales": list(self.scales)}


class Catalogue:
    """Model choices by id, plus the one that requests get when they name none (or ``default``)."""

    def __init__(self, choices: Sequence[ModelChoice], default: str) -> None:
        self.choices = {c.id: c for c in choices}
        if len(self.choices) != len(choices):
            raise ConfigError("serve: two models share an id")
        key = self._key(default)
        if key not in self.choices:
            raise ConfigError(f"--model {default!r}: not offered (offered: {', '.join(self.choices)})")
        self.default = key

    def _key(self, name: str) -> str:
        """An id, or a short name of a bundled family (``photo``, ``photo-gan:0.5``) when no choice has that
        id itself."""
        if name in self.choices:
            return name
        family, colon, strength = name.partition(":")
        return BUNDLED_ALIASES.get(family.lower(), family) + colon + strength

    def describe(self) -> dict[str, Any]:
        return {"default": self.default, "models": [c.describe() for c in self.choices.values()]}

    def resolve(self, name: str | None, scale: int | None) -> tuple[ModelChoice, int]:
        """A request's model name (None/``default``: the default) and scale (None: the model's first)."""
        key = self.default if not name or name == "default" else self._key(name)
        choice = self.choices.get(key)
        if choice is None:
            raise ConfigError(f"model {name!r}: unknown (offered: {', '.join(self.choices)})")
        s = choice.scales[0] if scale is None else scale
        if s not in choice.scales:
            offered = ", ".join(f"x{v}" for v in choice.scales)
            raise ConfigError(f"model {choice.id!r} has no x{s} (it offers {offered})")
        return choice, s


def _bundled_loader(family: str) -> Callable[[int], nn.Module]:
    def load(scale: int) -> nn.Module:
        return resolve_model(family, None, scale).model

    return load


def _copy_loader(net: nn.Module) -> Callable[[int], nn.Module]:
    # every engine gets its own copy: Upscaler moves and folds the module it is given
    return lambda _scale: copy.deepcopy(net)


def build_catalogue(model: str = "default", weights: Sequence[Path] = (), default_scale: int = 2) -> Catalogue:
    """Bundled families (the default family first), bicubic, then each weights file (loaded now, so a bad
    file fails the start, not a request). ``model``: the default choice, ``default`` meaning the bundled
    default family (bicubic when none is shipped)."""
    families: dict[str, list[int]] = {}
    for family, scale in bundled_models():
        families.setdefault(family, []).append(scale)
    order = sorted(families, key=lambda f: (f != DEFAULT_BUNDLED, f))
    choices = []
    for family in order:
        scales = sorted(families[family], key=lambda s: (s != default_scale, s))
        note = " (bundled default)" if family == DEFAULT_BUNDLED else " (bundled)"
        choices.append(ModelChoice(family, family + note, "bundled", tuple(scales), _bundled_loader(family)))
        both = tuple(s for s in scales if s in families.get(GAN_BASES.get(family, ""), ()))
        if both:  # a GAN family and its PSNR base: also the halfway blend of their weights
            blend = f"{family}:{BLEND_STRENGTH:g}"
            choices.append(ModelChoice(blend, f"{blend} (bundled, halfway between {GAN_BASES[family]} and "
                                       f"{family})", "bundled", both, _bundled_loader(blend)))
    choices.append(ModelChoice("bicubic", "bicubic (no model)", "bicubic",
                               tuple(sorted(BICUBIC_SCALES, key=lambda s: (s != default_scale, s))), Bicubic))
    taken = set(families) | {"bicubic", "default"}
    for path in weights:
        resolved = resolve_model(None, path)
        name = resolved.label
        n = 2
        while name in taken:
            name, n = f"{resolved.label}-{n}", n + 1
        taken.add(name)
        choices.append(ModelChoice(name, f"{name} (--weights)", "weights", (resolved.scale,),
                                   _copy_loader(resolved.model)))
    if model == "default":
        default = DEFAULT_BUNDLED if DEFAULT_BUNDLED in families else "bicubic"
    else:
        default = model
    return Catalogue(choices, default)
