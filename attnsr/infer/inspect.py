"""Internal maps that make the attention networks interpretable, extracted for display.

* DeFiAN: per module, the three Hessian (MSHF max-eigenvalue) responses, the DiEnDec map, and the
  detail-fidelity attention gate (channel mean) -- from ``DeFiAN.forward_with_maps``.
* HSPAN: per HSPA, how many key positions each query keeps (the support of its sparsemax row, i.e. its
  non-zero attention weights), recomputed from the block's own ``conv_match1``/``conv_match2`` on the
  input a forward hook captured; the model code is not touched.
* DFSA: every dynamic high-pass filter's output ``x - L`` (mean |.| over channels) -- ``forward_with_maps``.
* FSANet: every FSAB's low- and high-frequency chain outputs (mean |.| over channels), by forward hooks.

All maps are (H, W) at the LR input's resolution; :func:`heatmap` turns one into a uint8 RGB picture.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from attnsr.errors import ConfigError


#: family given to ``attnsr inspect --model`` -> the registry networks it covers (first = default)
def families() -> dict[str, tuple[str, ...]]:
    """Family -> registry names of the networks whose internal maps this module extracts (the families
    come from the registry entries' ``family``)."""
    from attnsr.models import all_entries

    found: dict[str, tuple[str, ...]] = {}
    for name, entry in all_entries().items():
        family = entry.family or name
        if family in _EXTRACTORS:
            found[family] = (*found.get(family, ()), name)
    return found

#: anchor colours of the heat-map ramp (black -> purple -> red -> orange -> pale yellow, "inferno"-like)
_RAMP = np.array([[0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164]], dtype=np.float64)


@dataclass(frozen=True)
class InternalMap:
    """One displayable map: ``name`` (file stem), ``values`` (H, W) float64 raw values, ``what`` it
    shows, ``log`` (display on a log scale), ``stats`` (extra numbers for the index)."""

    name: str
    values: torch.Tensor
    what: str
    log: bool = False
    stats: dict = field(default_factory=dict)


def family_of(model: nn.Module) -> str:
    """``defian``/``hspan``/``dfsa``/``fsanet`` for a registry-built model; ConfigError otherwise."""
    name = getattr(model, "attnsr_name", None)
    for family, names in families().items():
        if name in names:
            return family
    raise ConfigError(f"inspect: no internal maps for network {name!r}; supported: {', '.join(families())}")


def _channel_energy(x: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) -> (H, W) mean |x| over channels of the first image, float64."""
    return x[0].detach().abs().mean(0).double().cpu()


def _defian_maps(model: Any, lr: torch.Tensor) -> tuple[torch.Tensor, list[InternalMap]]:
    sr, raw = model.forward_with_maps(lr)
    what = {"hessian3": "MSHF Hessian response, 3x3 (dilation 1), channel mean",
            "hessian5": "MSHF Hessian response, 5x5 (dilation 2), channel mean",
            "hessian7": "MSHF Hessian response, 7x7 (dilation 3), channel mean",
            "diendec": "DiEnDec fusion of the three Hessian maps (before DAC)",
            "attention": "detail-fidelity attention gate sigmoid(DAC(...)), channel mean, in (0, 1)"}
    maps = []
    for key, value in raw.items():  # "body.{i}.{kind}"
        _, index, kind = key.split(".")
        values = value[0].detach().double().mean(0).cpu()
        maps.append(InternalMap(f"defian_module{index}_{kind}", values, f"DeFiAM {index}: {what[kind]}"))
    return sr, maps


def _dfsa_maps(model: Any, lr: torch.Tensor) -> tuple[torch.Tensor, list[InternalMap]]:
    sr, raw = model.forward_with_maps(lr)
    maps = [InternalMap(f"dfsa_hpf_{key.replace('.', '_')}", _channel_energy(value),
                        f"dynamic high-pass output x - L at {key} (mean |.| over channels, 0-255 feature units)")
            for key, value in raw.items()]
    return sr, maps


def _capture_outputs(modules: dict[str, nn.Module], run: Callable[[], torch.Tensor]
                     ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Run ``run()`` with forward hooks recording each named module's output (or, for names ending in
    ``:input``, its first input)."""
    seen: dict[str, torch.Tensor] = {}
    handles = []
    for name, module in modules.items():
        want_input = name.endswith(":input")

        def hook(_m: nn.Module, inputs: tuple, output: torch.Tensor, name: str = name,
                 want_input: bool = want_input) -> None:
            seen[name] = (inputs[0] if want_input else output).detach()

        handles.append(module.register_forward_hook(hook))
    try:
        out = run()
    finally:
        for h in handles:
            h.remove()
    return out, seen


def _fsanet_maps(model: Any, lr: torch.Tensor) -> tuple[torch.Tensor, list[InternalMap]]:
    targets = {}
    for i, block in enumerate(model.body):
        targets[f"{i}.low"] = block.lfm_chain
        targets[f"{i}.high"] = block.hfm_chain
    sr, seen = _capture_outputs(targets, lambda: model(lr))
    maps = []
    for key, value in seen.items():
        index, band = key.split(".")
        chain = "LFM (low-frequency: LFAB x3, channel attention)" if band == "low" else \
            "HFM (high-frequency: back-projection HFAB x3, channel + spatial attention)"
        maps.append(InternalMap(f"fsanet_block{index}_{band}", _channel_energy(value),
                                f"FSAB {index}: {chain} chain output, mean |.| over channels"))
    return sr, maps


def sparsemax_support(scores: torch.Tensor) -> torch.Tensor:
    """(R, P) scores -> (R,) int64: how many entries of each row get a non-zero sparsemax weight.

    Sparsemax keeps the k largest scores z_(1) >= ... >= z_(k) for the largest k with
    1 + k z_(k) > z_(1) + ... + z_(k) (Martins & Astudillo 2016); computed in float64.
    """
    z = scores.double().sort(dim=-1, descending=True).values
    ranks = torch.arange(1, z.shape[-1] + 1, dtype=z.dtype, device=z.device)
    return (1 + ranks * z > z.cumsum(-1)).sum(-1)


def hspa_support_map(block: Any, x: torch.Tensor, rows_per_chunk: int | None = None) -> torch.Tensor:
    """Support size per query position of one HSPA block (official ``conv_match1``/``conv_match2``
    embeddings, scores q.k without scaling) for input ``x`` (1, C, H, W) -> (H, W) int64."""
    query = block.conv_match1(x)[0].flatten(1).T  # P x Cq
    key = block.conv_match2(x)[0].flatten(1)  # Cq x P
    positions = query.shape[0]
    step = rows_per_chunk or max(1, (1 << 22) // positions)
    counts = [sparsemax_support(query[i:i + step] @ key) for i in range(0, positions, step)]
    return torch.cat(counts).reshape(x.shape[-2:]).cpu()


#: upper edges of the histogram bins of support sizes (the last bin is open)
SUPPORT_BINS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


def support_histogram(counts: torch.Tensor) -> dict[str, int]:
    """Counts of queries by support size, in power-of-two bins: {"1": n, "2": n, "3-4": n, ...}."""
    flat = counts.flatten()
    hist, low = {}, 1
    for high in SUPPORT_BINS:
        hist[str(low) if low == high else f"{low}-{high}"] = int(((flat >= low) & (flat <= high)).sum())
        low = high + 1
    hist[f">{SUPPORT_BINS[-1]}"] = int((flat > SUPPORT_BINS[-1]).sum())
    return {k: v for k, v in hist.items() if v}


def _hspan_maps(model: Any, lr: torch.Tensor) -> tuple[torch.Tensor, list[InternalMap]]:
    blocks = {f"{g}:input": m for g, m in enumerate(
        m for m in model.modules() if hasattr(m, "conv_match1") and hasattr(m, "conv_match2"))}
    if not blocks:
        raise ConfigError("inspect: found no HSPA block (conv_match1/conv_match2) in the HSPAN model")
    sr, seen = _capture_outputs(blocks, lambda: model(lr))
    maps = []
    for key, x in seen.items():
        group = key.split(":")[0]
        counts = hspa_support_map(blocks[key], x[:1])
        c = counts.double()
        stats = {"positions": int(counts.numel()), "min": int(counts.min()), "median": float(c.median()),
                 "mean": float(c.mean()), "max": int(counts.max()), "histogram": support_histogram(counts)}
        maps.append(InternalMap(f"hspan_group{group}_support", c,
                                f"HSPA of group {group}: positions each query keeps (non-zero sparsemax "
                                f"weights) out of {counts.numel()}; log scale", log=True, stats=stats))
    return sr, maps


_EXTRACTORS = {"defian": _defian_maps, "hspan": _hspan_maps, "dfsa": _dfsa_maps, "fsanet": _fsanet_maps}


def extract_maps(model: nn.Module, lr: torch.Tensor) -> tuple[torch.Tensor, list[InternalMap]]:
    """Run ``model`` (eval mode, unfused) on ``lr`` (1, 3, H, W) in [0, 1]; returns (SR, maps)."""
    if lr.dim() != 4 or lr.shape[:2] != (1, 3):
        raise ConfigError(f"inspect: expected one RGB image (1, 3, H, W), got {tuple(lr.shape)}")
    extractor = _EXTRACTORS[family_of(model)]
    with torch.inference_mode():
        sr, maps = extractor(model.eval(), lr)
    if not maps:
        raise ConfigError(f"inspect: {model.attnsr_name} produced no internal maps (attention or high-pass "
                          "filtering switched off in its config?)")
    return sr, maps


def heatmap(values: torch.Tensor, *, log: bool = False, min_side: int = 256) -> np.ndarray:
    """(H, W) values -> uint8 (H*z, W*z, 3): 1st-99th percentile stretched over the colour ramp, enlarged
    by nearest-neighbour (z = the integer zoom bringing the long side to ``min_side``). A constant map is
    drawn in the ramp's darkest colour."""
    v = values.double().cpu().numpy()
    if log:
        v = np.log1p(np.maximum(v, 0))
    lo, hi = np.percentile(v, [1, 99])
    t = np.zeros_like(v) if hi <= lo else np.clip((v - lo) / (hi - lo), 0, 1)
    pos = t * (len(_RAMP) - 1)
    i = np.minimum(pos.astype(int), len(_RAMP) - 2)
    frac = (pos - i)[..., None]
    rgb = _RAMP[i] * (1 - frac) + _RAMP[i + 1] * frac
    zoom = max(1, min_side // max(v.shape))
    out = np.floor(rgb + 0.5).astype(np.uint8)
    return np.ascontiguousarray(out.repeat(zoom, axis=0).repeat(zoom, axis=1))


def save_maps(folder: Path, maps: Sequence[InternalMap], *, meta: dict | None = None) -> Path:
    """Write ``<name>.png`` per map and ``index.json`` (file, what, shape, raw min/mean/max, stats)."""
    from attnsr.image.io import save_array

    folder.mkdir(parents=True, exist_ok=True)
    entries = []
    for m in maps:
        save_array(folder / f"{m.name}.png", heatmap(m.values, log=m.log))
        entries.append({"file": f"{m.name}.png", "what": m.what, "shape": list(m.values.shape),
                        "min": float(m.values.min()), "mean": float(m.values.mean()),
                        "max": float(m.values.max()), "display": "log1p, 1-99 percentile" if m.log
                        else "1-99 percentile", **({"stats": m.stats} if m.stats else {})})
    index = folder / "index.json"
    index.write_text(json.dumps({**(meta or {}), "maps": entries}, indent=2) + "\n")
    return index
