"""Loading official checkpoints safely, and reading/writing our own safetensors format.

Checkpoints are untrusted input: ``.pt``/``.pth`` files go through ``torch.load(weights_only=True)``, which
refuses any pickle that references code; ``.safetensors`` files cannot hold code at all.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attnsr.atomic import atomic_path
from attnsr.errors import CheckpointError, ConfigError
from attnsr.models import registry
from attnsr.models.registry import NetworkEntry, StateDict

FORMAT_TAG = "attnsr-1"


def read_checkpoint(path: str | os.PathLike[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Read ``path`` without executing anything. Returns (raw object as a dict, safetensors metadata)."""
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: no such checkpoint file")
    if p.stat().st_size == 0:
        raise CheckpointError(f"{p}: file is empty")
    if p.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(p), framework="pt", device="cpu") as f:
                meta = dict(f.metadata() or {})
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as exc:  # safetensors raises its own error types
            raise CheckpointError(f"{p}: not a valid safetensors file ({exc})") from exc
        return tensors, meta
    try:
        with warnings.catch_warnings():  # e.g. "Detected pickle protocol 4": the error below says enough
            warnings.simplefilter("ignore", UserWarning)
            obj = torch.load(str(p), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"GLOBAL (\S+)", str(exc))
        if found:
            raise CheckpointError(
                f"{p}: refused to load: the pickle references {found.group(1)}, which is not a tensor or "
                "plain container and could run code"
            ) from exc
        raise CheckpointError(f"{p}: cannot read checkpoint (not a torch.save file or corrupt)") from exc
    except Exception as exc:
        raise CheckpointError(f"{p}: cannot read checkpoint ({type(exc).__name__}: {exc})".splitlines()[0]) from exc
    if not isinstance(obj, Mapping):
        raise CheckpointError(f"{p}: expected a dict of tensors, found {type(obj).__name__}")
    return dict(obj), {}


_CONTAINER_KEYS = ("state_dict", "model_state_dict", "params_ema", "params", "model", "net", "generator")


def _is_tensor_map(obj: Any) -> bool:
    return isinstance(obj, Mapping) and len(obj) > 0 and all(isinstance(v, torch.Tensor) for v in obj.values())


def unwrap_state_dict(obj: Mapping[str, Any]) -> dict[str, torch.Tensor]:
    """Find the state dict inside an official container and return a new flat dict.

    Handles ``{"state_dict": sd}``, ``{"model_state_dict": sd}`` (and a few other common wrappers),
    ``module.`` prefixes left by DataParallel/DDP, and the separately saved Fs-SRGAN parts
    ``{"E": sd_E, "G": sd_G}`` (flattened to ``E.<key>``/``G.<key>``; likewise E + D for the
    discriminators). Never mutates ``obj``.
    """
    parts = [k for k in ("E", "G", "D") if isinstance(obj, Mapping) and _is_tensor_map(obj.get(k))]
    if len(parts) >= 2 and len(parts) == len(obj):
        return {f"{part}.{k}": v for part in parts for k, v in unwrap_state_dict(obj[part]).items()}
    current: Any = obj
    for _ in range(4):
        if _is_tensor_map(current):
            break
        inner = next((current[k] for k in _CONTAINER_KEYS if isinstance(current, Mapping) and k in current
                      and isinstance(current[k], Mapping)), None)
        if inner is None:
            break
        current = inner
    if not isinstance(current, Mapping):
        raise CheckpointError("checkpoint holds no state dict")
    sd = {k: v for k, v in current.items() if isinstance(v, torch.Tensor)}
    if not sd:
        raise CheckpointError(f"checkpoint holds no tensors (top-level keys: {sorted(current)[:8]})")
    if all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def check_keys(expected: StateDict, given: StateDict, *, where: str) -> None:
    """Raise one :class:`CheckpointError` listing missing, unexpected and mis-shaped keys together."""
    missing = [k for k in expected if k not in given]
    unexpected = [k for k in given if k not in expected]
    shaped = [
        f"{k}: checkpoint {tuple(given[k].shape)} vs model {tuple(expected[k].shape)}"
        for k in expected
        if k in given and tuple(given[k].shape) != tuple(expected[k].shape)
    ]
    if missing or unexpected or shaped:
        parts = []
        if missing:
            parts.append(f"missing {len(missing)}: {missing[:10]}{' ...' if len(missing) > 10 else ''}")
        if unexpected:
            parts.append(f"unexpected {len(unexpected)}: {unexpected[:10]}{' ...' if len(unexpected) > 10 else ''}")
        if shaped:
            parts.append(f"mis-shaped {len(shaped)}: {shaped[:10]}{' ...' if len(shaped) > 10 else ''}")
        raise CheckpointError(f"{where}: state dict does not fit the network; " + "; ".join(parts))


def _config_to_json(cfg: Any) -> str:
    return json.dumps(dataclasses.asdict(cfg), sort_keys=True)


def save_model(model: nn.Module, path: str | os.PathLike[str], *, extra: Mapping[str, str] | None = None) -> None:
    """Write ``model`` in our format: safetensors + metadata (arch, scale, config), atomically."""
    from safetensors.torch import save_file

    name = getattr(model, "attnsr_name", None)
    cfg = getattr(model, "attnsr_config", None)
    if name is None or cfg is None:
        raise CheckpointError("model was not built by attnsr.models.create/from_official; arch unknown")
    if getattr(model, "attnsr_folded", False):
        raise CheckpointError("model was folded for inference (weight norm merged); save the unfolded model")
    meta = {"format": FORMAT_TAG, "arch": name, "scale": str(getattr(cfg, "scale", "")),
            "config": _config_to_json(cfg)}
    meta.update(extra or {})
    sd = {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(sd, str(tmp), metadata=meta)


def load_model(path: str | os.PathLike[str], *, device: str | torch.device = "cpu") -> nn.Module:
    """Load a model saved by :func:`save_model` (eval mode)."""
    tensors, meta = read_checkpoint(path)
    if meta.get("format") != FORMAT_TAG:
        raise CheckpointError(f"{path}: not an attnsr model file (no '{FORMAT_TAG}' metadata); "
                              "use attnsr.models.from_official for official checkpoints")
    return _build_from_meta(tensors, meta, where=str(path)).to(device)


def _build_from_meta(tensors: StateDict, meta: Mapping[str, str], *, where: str,
                     arch: str | None = None) -> nn.Module:
    if "arch" not in meta:
        raise CheckpointError(f"{where}: metadata key 'arch' is missing")
    try:
        entry = registry.get_entry(meta["arch"])
    except KeyError:
        raise CheckpointError(f"{where}: holds network {meta['arch']!r}, which this version does not know") from None
    if arch is not None and registry.get_entry(arch).name != entry.name:
        raise CheckpointError(f"{where}: holds a {entry.name} network, not {arch.lower()} "
                              f"(leave the network name out, or name {entry.name})")
    try:
        cfg_kwargs = json.loads(meta["config"])
    except (KeyError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{where}: metadata key 'config' is missing or not JSON") from exc
    try:
        cfg = entry.config_cls(**cfg_kwargs)
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"{where}: metadata 'config' does not fit {entry.name}: {exc}") from None
    model = registry.tag(entry.build_checked(cfg), entry.name, cfg)
    check_keys(model.state_dict(), tensors, where=where)
    model.load_state_dict(dict(tensors), strict=True)
    return model.eval()


def arch_candidates(arch: str | None) -> list[NetworkEntry]:
    """The entries ``arch`` may mean: every entry (None), the entry of that name, or a family's variants
    (``"defian"`` -> ``defian_s`` and ``defian_l``); a name that is neither raises KeyError."""
    entries = registry.all_entries()
    if arch is None:
        return list(entries.values())
    key = arch.lower()
    if key in entries:
        return [entries[key]]
    family = [e for e in entries.values() if e.family == key and e.detect is not None]
    if not family:
        registry.get_entry(arch)  # raises the error listing the known names
    return family


def _build_own(tensors: StateDict, meta: Mapping[str, str], where: str, arch: str | None, scale: int | None,
               overrides: Mapping[str, Any]) -> nn.Module:
    """A file in our format, checked against what the caller asked for: a different network or scale is
    refused, and each override is honoured when the weights still fit (e.g. ``res_scale``), else refused,
    always with a :class:`ConfigError` naming the key and both values."""
    model = _build_from_meta(tensors, meta, where=where)
    name: str = getattr(model, "attnsr_name")
    cfg: Any = getattr(model, "attnsr_config")
    changed = {k: v for k, v in overrides.items() if getattr(cfg, k, object()) != v}
    problems = []
    if arch is not None and name not in {e.name for e in arch_candidates(arch)}:
        problems.append(f"arch: asked {arch!r}, the file has {name!r}")
    if scale is not None and scale != cfg.scale:
        problems.append(f"scale: asked x{scale}, the file has x{cfg.scale}")
    if problems:  # another network or scale: refused, with every other contradiction in the same line
        problems += [f"{k}: asked {v!r}, the file has {getattr(cfg, k)!r}" for k, v in changed.items()
                     if hasattr(cfg, k)]
        raise ConfigError(f"{where}: the file holds {name} x{cfg.scale}; " + "; ".join(problems))
    if not changed:
        return model
    entry = registry.get_entry(name)
    new_cfg = entry.make_config(**{**dataclasses.asdict(cfg), **changed})
    wanted = registry.tag(entry.build(new_cfg), name, new_cfg)
    theirs = {k: tuple(v.shape) for k, v in tensors.items()}
    if {k: tuple(v.shape) for k, v in wanted.state_dict().items()} != theirs:
        key, value = next(iter(changed.items()))
        extra = f" (and {sorted(changed)[1:]})" if len(changed) > 1 else ""
        raise ConfigError(f"{where}: {key}: asked {value!r}, but the file holds {name} x{cfg.scale} with "
                          f"{key}={getattr(cfg, key, None)!r}{extra}")
    wanted.load_state_dict(dict(tensors), strict=True)
    return wanted.eval()


def detect_entry(sd: StateDict, arch: str | None = None, where: str = "checkpoint"
                 ) -> tuple[NetworkEntry, dict[str, Any]]:
    """Which registered network an official state dict belongs to, with the config it implies.

    ``arch`` narrows the search to one entry or to a family of variants (see :func:`arch_candidates`)."""
    candidates = arch_candidates(arch)
    for entry in candidates:
        if entry.detect is None:
            continue
        found = entry.detect(sd)
        if found is not None:
            return entry, found
    if arch:
        asked = {e.name for e in candidates}
        others = [e.name for e in registry.all_entries().values()
                  if e.detect is not None and e.name not in asked and e.detect(sd) is not None]
        hint = f"; its keys are those of {others[0]}" if others else ""
        raise CheckpointError(f"{where}: not recognised as a {arch.lower()} checkpoint ({len(sd)} keys, first: "
                              f"{list(sd)[:3]}){hint}")
    raise CheckpointError(
        f"{where}: state dict not recognised as any known network ({len(sd)} keys, first: {list(sd)[:5]}); name the "
        "network with --model NAME (in Python: the arch argument)"
    )


def resolve_scale(detected: int | tuple[int, ...] | None, asked: int | None, name: str, where: str,
                  needed: bool = True) -> int | None:
    """The scale to build: what the keys show, checked against what the caller asked for.

    ``detected`` is an int (the keys show it), a tuple (the keys fit each of these scales: the caller must
    choose) or None (not visible: an error when ``needed``, i.e. for a generator). A request that contradicts a
    visible scale is refused rather than loaded into a network of another scale.
    """
    if isinstance(detected, tuple):
        options = " from ".join(f"x{s}" for s in detected)
        if asked is None:
            raise CheckpointError(f"{where}: the keys of this {name} checkpoint cannot tell {options}; "
                                  "pass the scale (scale= / --scale)")
        if asked not in detected:
            raise CheckpointError(f"{where}: this {name} checkpoint is one of {options}, not x{asked}")
        return asked
    if detected is not None and asked is not None and asked != detected:
        raise CheckpointError(f"{where}: the model is x{detected} ({name}); it cannot run at x{asked}")
    if detected is None and asked is None and needed:
        raise CheckpointError(f"{where}: the keys of this {name} checkpoint do not show its scale; "
                              "pass the scale (scale= / --scale)")
    return asked if asked is not None else detected


def _convert(entry: NetworkEntry, sd: StateDict, cfg: Any, where: str) -> dict[str, torch.Tensor]:
    """``entry``'s converter, its errors prefixed with the file they are about."""
    if entry.convert is None:
        return dict(sd)
    try:
        return entry.convert(sd, cfg)
    except CheckpointError as exc:
        raise CheckpointError(f"{where}: {exc}") from None


def from_official(
    checkpoint: str | os.PathLike[str] | Mapping[str, Any],
    *,
    arch: str | None = None,
    scale: int | None = None,
    **overrides: Any,
) -> nn.Module:
    """Build a network from an official checkpoint (or one of ours) and load it strictly.

    ``checkpoint`` is a path (.pt/.pth/.pth.tar/.safetensors) or an already-loaded mapping. Architecture,
    scale and every hyper-parameter that shapes reveal are inferred; ``arch`` (an entry or a family such
    as ``"defian"``), ``scale`` and ``overrides`` fix the rest. A scale the keys do not show must be given
    (CheckpointError otherwise), and one that contradicts the keys is refused (see :func:`resolve_scale`).
    For a file in our own format (which records its network and config), an ``arch`` or ``scale`` other
    than the file's, or an override its weights cannot take, is refused with a ConfigError naming the key
    and both values. Returns the model in eval mode, taking and returning RGB in [0, 1] (no clamp).
    """
    where = str(checkpoint) if not isinstance(checkpoint, Mapping) else "checkpoint"
    meta: dict[str, str] = {}
    if isinstance(checkpoint, Mapping):
        raw: Mapping[str, Any] = checkpoint
    else:
        raw, meta = read_checkpoint(checkpoint)
    if meta.get("format") == FORMAT_TAG:
        return _build_own(raw, meta, where, arch, scale, overrides)
    try:
        sd = unwrap_state_dict(raw)
    except CheckpointError as exc:
        raise CheckpointError(f"{where}: {exc}") from None
    entry, found = detect_entry(sd, arch, where)
    found = {**found, "scale": resolve_scale(found.get("scale"), scale, entry.name, where,
                                             needed=entry.role == "generator")}
    if found["scale"] is None:
        del found["scale"]  # a network without a scale (discriminators): the config default
    contradicted = {k: v for k, v in overrides.items() if k in found and found[k] != v}
    detected = dict(found)
    found.update(overrides)
    cfg = entry.make_config(**found)
    model = registry.tag(entry.build_checked(cfg), entry.name, cfg)
    try:
        ours = _convert(entry, sd, cfg, where)
        check_keys(model.state_dict(), ours, where=f"{where} as {entry.name}")
    except CheckpointError:
        if not contradicted:  # an override that the shapes refuse names its key (not a tensor list)
            raise
        key, value = next(iter(contradicted.items()))
        raise ConfigError(f"{where}: {key}: asked {value!r}, but the checkpoint's shapes show {key}="
                          f"{detected[key]!r} ({entry.name})") from None
    model.load_state_dict(ours, strict=True)
    return model.eval()


def load_matching(model: nn.Module, checkpoint: str | os.PathLike[str]) -> tuple[list[str], list[str]]:
    """Copy into ``model`` every tensor of ``checkpoint`` whose key and shape match; keep the rest.

    For starting a network from a relative (e.g. ×3 from the ×2 model: the upsampler differs and stays
    freshly initialised). ``checkpoint`` is in our format or an official one (converted to our keys
    first). A file in our format of another network than ``model``'s is refused (ConfigError naming the
    arch), however many keys happen to fit. Returns (loaded keys, kept keys); raises CheckpointError
    when nothing matches.
    """
    raw, meta = read_checkpoint(checkpoint)
    if meta.get("format") == FORMAT_TAG:
        name = getattr(model, "attnsr_name", None)
        if name is not None and meta.get("arch") != name:  # a relative of the same network, not another one
            raise ConfigError(f"{checkpoint}: arch: the network is {name!r}, but the file holds {meta.get('arch')!r}")
        source: Mapping[str, torch.Tensor] = raw
    else:
        sd = unwrap_state_dict(raw)
        entry, found = detect_entry(sd, where=str(checkpoint))
        if isinstance(found.get("scale"), tuple):  # scales the keys cannot tell apart share every key
            found = {**found, "scale": found["scale"][0]}
        source = _convert(entry, sd, entry.make_config(**found), str(checkpoint))
    target = model.state_dict()
    loaded = [k for k, v in target.items() if k in source and tuple(source[k].shape) == tuple(v.shape)]
    if not loaded:
        raise CheckpointError(f"{checkpoint}: no tensor matches the network by key and shape")
    with torch.no_grad():
        for k in loaded:
            target[k].copy_(source[k])
    return loaded, [k for k in target if k not in loaded]
