"""The one explicit list of networks, and the small record each network file contributes.

Every network file (``attnsr/models/<name>.py``) defines ``ENTRIES``: a tuple of :class:`NetworkEntry`.
This module imports exactly the files named in :data:`NETWORKS`, in that order; nothing registers itself by
side effect. A file is imported only when one of its entries is first needed: :func:`get_entry` and
:func:`create` import the one file that defines the name, :func:`all_entries` (listing, checkpoint
detection) imports them all.
"""

from __future__ import annotations

import dataclasses
import importlib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from attnsr.errors import AttnsrError, ConfigError, UnknownKeyError, UnknownNetworkError

StateDict = Mapping[str, torch.Tensor]

#: The network files and the entry names each defines, in the order ``attnsr models`` lists them. Looking
#: up one name imports only its file; listing and checkpoint detection import them all. Each file's
#: ``ENTRIES`` must match its line here (checked when the file is imported).
NETWORKS: dict[str, tuple[str, ...]] = {
    "fsanet": ("fsanet",),
    "hspan": ("hspan",),
    "defian": ("defian_s", "defian_l"),
    "rcan": ("rcan",),
    "dfsa": ("dfsa", "dfsa_edsr"),
    "rrdbnet": ("rrdbnet",),
    "srvgg": ("srvgg",),
    "fasrgan": ("fasrgan", "fasrgan_unet"),
    "fssrgan": ("fssrgan", "fafssrgan", "fssrgan_vgg192", "fafssrgan_unet"),
}
NETWORK_MODULES: tuple[str, ...] = tuple(NETWORKS)
_MODULE_OF: dict[str, str] = {name: module for module, names in NETWORKS.items() for name in names}


@dataclass(frozen=True)
class NetworkEntry:
    """What the toolkit needs to know about one network (or one named variant of it).

    name:       registry name used by :func:`create` (lower case, e.g. ``"defian_s"``).
    config_cls: frozen dataclass of constructor arguments; its defaults are the official ones and it has
                a ``scale`` field (discriminators: ``scale`` is ignored but still present, default 1).
    build:      config -> nn.Module. The module takes and returns float32 NCHW RGB in [0, 1].
    scales:     scales with an official configuration.
    defaults:   overrides of ``config_cls`` defaults that define this named variant.
    official_params: scale -> trainable parameter count (``requires_grad``; frozen mean shifts and the
                like excluded) of this variant's official configuration; the spec's printed counts are
                checked against it in each network's tests, this meaning in tests/test_registry.py.
    detect:     official state dict -> config kwargs (including ``scale``) if the keys belong to this
                entry, else ``None``. Infers every hyper-parameter that shapes reveal, and never guesses
                a scale: where the keys fit several, ``scale`` is the tuple of them and the caller must
                choose (``from_official(..., scale=)``).
    convert:    (official state dict, config) -> our state dict. Pure: never mutates its input.
    role:       ``"generator"`` or ``"discriminator"``.
    summary:    one line for ``attnsr models``.
    family:     the family of variants (DeFiAN S/L, DFSA on RCAN/EDSR), e.g. for ``attnsr inspect``.
    chop:       (model, lr) -> sr: the official chopped test-time forward, where the paper used one.
    """

    name: str
    config_cls: type
    build: Callable[[Any], nn.Module]
    scales: tuple[int, ...] = (2, 3, 4)
    defaults: Mapping[str, Any] = field(default_factory=dict)
    official_params: Mapping[int, int] = field(default_factory=dict)
    detect: Callable[[StateDict], dict[str, Any] | None] | None = None
    convert: Callable[[StateDict, Any], dict[str, torch.Tensor]] | None = None
    role: str = "generator"
    summary: str = ""
    #: the network family this variant belongs to (``defian_s`` -> ``defian``); "" means its own name
    family: str = ""
    chop: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None

    def make_config(self, scale: int | None = None, **overrides: Any) -> Any:
        """The typed config of this entry, with the variant defaults and the user's overrides.

        Unknown keys raise :class:`~attnsr.errors.UnknownKeyError` (a ConfigError, also a TypeError); a value
        of the wrong type (``n_feats="32"``) raises ConfigError naming the key and the expected type. An
        integer is accepted for a float field."""
        names = {f.name for f in dataclasses.fields(self.config_cls)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise UnknownKeyError(f"{self.name}: unknown config key(s) {unknown}; valid keys: {sorted(names)}")
        if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int) or scale < 1):
            raise ConfigError(f"{self.name}: scale must be a positive integer, got {scale!r}")
        hints = typing.get_type_hints(self.config_cls)
        kwargs = dict(self.defaults)
        kwargs.update({k: check_type(v, hints[k], k, self.name) for k, v in overrides.items()})
        if scale is not None:
            kwargs["scale"] = scale
        try:
            return self.config_cls(**kwargs)
        except AttnsrError:
            raise
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{self.name}: invalid options {overrides}: {_first_line(exc)}") from None

    def build_checked(self, cfg: Any) -> nn.Module:
        """``build(cfg)``, with a ConfigError naming the options when they give no working network
        (a build that fails, or a layer with zero channels, e.g. DeFiAN's ``n_channels`` below
        ``reduction``), instead of an error deep inside the first forward."""
        import warnings

        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", "Initializing zero-element tensors")
                model = self.build(cfg)
        except AttnsrError:
            raise
        except (RuntimeError, ValueError, TypeError, ZeroDivisionError, AssertionError) as exc:
            raise ConfigError(f"{self.name}: options {_changed(cfg)} build no network: {_first_line(exc)}") from None
        empty = [n for n, p in model.named_parameters() if p.numel() == 0]
        if empty:
            raise ConfigError(f"{self.name}: options {_changed(cfg)} give layers with zero channels "
                              f"({', '.join(empty[:3])}{' ...' if len(empty) > 3 else ''}); check widths "
                              "against 'reduction'")
        return model


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _changed(cfg: Any) -> dict[str, Any]:
    """The fields of ``cfg`` that differ from the config class's defaults (what the user set)."""
    try:
        base = type(cfg)()
    except TypeError:
        return dataclasses.asdict(cfg)
    return {f.name: getattr(cfg, f.name) for f in dataclasses.fields(cfg)
            if getattr(cfg, f.name) != getattr(base, f.name)}


_TYPE_WORDS = {int: "an integer", float: "a number", bool: "true/false", str: "a string"}


def check_type(value: Any, tp: Any, key: str, owner: str) -> Any:
    """``value`` if it is of the annotated config type ``tp`` (int given for float becomes float), else a
    ConfigError naming ``key``. Types other than int/float/bool/str (and their optionals) pass through."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        if value is None and type(None) in typing.get_args(tp):
            return None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        tp = inner[0] if len(inner) == 1 else Any
    if tp not in _TYPE_WORDS:
        return value
    ok = isinstance(value, tp) and (tp is bool or not isinstance(value, bool))
    if tp is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if not ok:
        raise ConfigError(f"{key}: expected {_TYPE_WORDS[tp]}, got {value!r} (a {type(value).__name__}; "
                          f"{owner} config)")
    return value


def _module_entries(module_name: str) -> tuple[NetworkEntry, ...]:
    module = importlib.import_module(f"attnsr.models.{module_name}")
    entries = getattr(module, "ENTRIES", None)
    if entries is None:
        raise ImportError(f"attnsr.models.{module_name} defines no ENTRIES")
    names = tuple(e.name for e in entries)
    if names != NETWORKS[module_name]:  # a bug in the package, not in the user's input
        raise ImportError(f"attnsr.models.{module_name} defines entries {names}, registry.NETWORKS lists "
                          f"{NETWORKS[module_name]}")
    return tuple(entries)


def all_entries() -> dict[str, NetworkEntry]:
    """Every registered entry by name, in :data:`NETWORKS` order (imports every network file)."""
    return {entry.name: entry for module_name in NETWORKS for entry in _module_entries(module_name)}


def get_entry(name: str) -> NetworkEntry:
    """The entry called ``name`` (case-insensitive), importing only its network file; the error lists the
    valid names."""
    key = name.lower()
    if key not in _MODULE_OF:
        raise UnknownNetworkError(f"unknown network {name!r}; known: {', '.join(_MODULE_OF)}")
    return next(e for e in _module_entries(_MODULE_OF[key]) if e.name == key)


def create(name: str, *, scale: int | None = None, **config: Any) -> nn.Module:
    """Build network ``name`` with official defaults, the given ``scale`` and config overrides."""
    entry = get_entry(name)
    cfg = entry.make_config(scale, **config)
    return tag(entry.build_checked(cfg), entry.name, cfg)


def tag(model: nn.Module, name: str, cfg: Any) -> nn.Module:
    """Record on ``model`` which entry and config built it (used when saving in our format)."""
    setattr(model, "attnsr_name", name)  # plain attributes, not parameters or submodules
    setattr(model, "attnsr_config", cfg)
    return model
