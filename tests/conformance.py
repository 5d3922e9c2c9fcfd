"""Readers for ../shared/conformance vectors (README there): the stored state dict or the fill rule."""

from __future__ import annotations

import hashlib
import math
import zlib
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch

GAIN, BIAS_STD, VAR_OFFSET = 1.0, 0.05, 0.5


def _dtype(name: str) -> torch.dtype:
    return getattr(torch, name.removeprefix("torch."))


def fill_crc32_randn_v1(keys: list, seed: int, gain: float = GAIN) -> "OrderedDict[str, torch.Tensor]":
    """Rebuild official-format weights from ``[[key, shape, dtype], ...]`` with rule crc32-randn-v1.

    ``gain`` scales the >= 2-d tensors; the vectors give it as ``fill["gain"]`` (absent: 1.0).
    """
    sd: OrderedDict[str, torch.Tensor] = OrderedDict()
    for key, shape, dtype_name in keys:
        dtype = _dtype(dtype_name)
        shape = tuple(shape)
        if not dtype.is_floating_point:
            sd[key] = torch.zeros(shape, dtype=dtype)
            continue
        g = torch.Generator()
        g.manual_seed((zlib.crc32(key.encode("utf-8")) + seed) % 2**63)
        z = torch.randn(shape, generator=g, dtype=torch.float64)
        if key.endswith("running_var"):
            t = VAR_OFFSET + z.abs()
        elif len(shape) >= 2:
            t = z * gain / math.sqrt(math.prod(shape[1:]))
        else:
            t = z * BIAS_STD
        sd[key] = t.to(torch.float32)
    return sd


def fill_sha256(sd: "OrderedDict[str, torch.Tensor]") -> str:
    return hashlib.sha256(b"".join(t.contiguous().numpy().tobytes() for t in sd.values())).hexdigest()


def load_vector(path: Path) -> dict[str, Any]:
    """A conformance file with its official-format weights under ``"weights"`` (stored or filled)."""
    vec = torch.load(path, map_location="cpu", weights_only=True)
    if "state_dict" in vec:
        vec["weights"] = vec["state_dict"]
    else:
        fill = vec["fill"]
        assert fill["rule"] == "crc32-randn-v1", f"{path}: unknown fill rule {fill['rule']}"
        vec["weights"] = fill_crc32_randn_v1(vec["keys"], int(fill["seed"]), float(fill.get("gain", GAIN)))
    return vec
