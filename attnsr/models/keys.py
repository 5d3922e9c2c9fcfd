"""Reading a network's hyper-parameters off a state dict: the helpers every ``detect`` and ``convert`` of
:mod:`attnsr.models` shares (indexed keys ``body.N.``, conv widths, key grammars, the EDSR-family
upsampler and MeanShift, converters for files already in our layout). Pure functions; none mutates ``sd``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import torch

from attnsr.models.registry import StateDict
from attnsr.ops.common import DIV2K_MEAN


def key_indices(sd: StateDict, pattern: str) -> set[int]:
    """Every integer the one ``(\\d+)`` group of ``pattern`` (matched at the start of a key) takes in ``sd``:
    ``key_indices(sd, r"^body\\.(\\d+)\\.")`` gives the indices of the ``body`` children."""
    rx = re.compile(pattern)
    return {int(m.group(1)) for k in sd if (m := rx.match(k))}


def count_indexed(sd: StateDict, template: str, *, step: int = 1) -> int:
    """How many consecutive keys ``template.format(i * step)``, i = 0, 1, ..., are in ``sd``
    (``count_indexed(sd, "body.{}.weight")``; ``step=2`` where every other child has no weights)."""
    n = 0
    while template.format(n * step) in sd:
        n += 1
    return n


def conv_width(sd: StateDict, key: str) -> tuple[int, int] | None:
    """(out, in) channels of the 4-D conv weight ``key``; None when it is absent or not 4-D."""
    w = sd.get(key)
    if w is None or w.ndim != 4:
        return None
    return int(w.shape[0]), int(w.shape[1])


def fits_grammar(sd: StateDict, grammar: re.Pattern[str], signature: Iterable[str] = ()) -> bool:
    """Whether ``sd`` holds every ``signature`` key and no key outside ``grammar`` (how a detector claims a
    dict without taking another network's: a broken dict of the right network still fits)."""
    return all(k in sd for k in signature) and all(grammar.match(k) for k in sd)


def infer_scale(sd: StateDict, n_feats: int, prefix: str = "tail.0.") -> int | None:
    """Scale from the EDSR-family upsampler at ``prefix`` (``tail.0.``; BasicSR: ``upsample.``): one ×2
    stage per conv of 4C outputs, or one ×3 (a conv of 9C outputs)."""
    convs = sorted(key_indices(sd, rf"^{re.escape(prefix)}(\d+)\.weight$"))
    if not convs:
        return None
    first = sd[f"{prefix}{convs[0]}.weight"].shape[0]
    if first == 9 * n_feats and len(convs) == 1:
        return 3
    if first == 4 * n_feats:
        return 2 ** len(convs)
    return None


def infer_rgb_range(sd: StateDict, default: float = 255.0) -> float:
    """rgb_range from ``sub_mean.bias`` = -rgb_range·mean (std 1); 1 or 255, else the default."""
    bias = sd.get("sub_mean.bias")
    if bias is None or bias.numel() != 3 or bias.is_meta:
        return default
    ratio = float(-bias[0]) / DIV2K_MEAN[0]
    return 1.0 if abs(ratio - 1.0) < 1e-3 else default


def same_layout(sd: StateDict, cfg: Any) -> dict[str, torch.Tensor]:
    """Converter of a network whose official keys are ours: a copy of ``sd`` (keys and shapes are checked
    when the state dict is loaded, every problem listed together)."""
    del cfg
    return dict(sd)


def with_bn_counters(sd: StateDict, cfg: Any = None) -> dict[str, torch.Tensor]:
    """Converter of official keys that are ours except for BatchNorm counters: a copy of ``sd`` plus a zero
    ``num_batches_tracked`` beside every ``running_mean`` that lacks one (files saved with torch < 0.4.1
    have none; it never affects eval outputs)."""
    del cfg
    out = dict(sd)
    for key in sd:
        if key.endswith(".running_mean"):
            out.setdefault(key[: -len("running_mean")] + "num_batches_tracked", torch.tensor(0, dtype=torch.long))
    return out
