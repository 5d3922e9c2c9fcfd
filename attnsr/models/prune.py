"""Shortening an RCAN-backbone network (``rcan``, or ``dfsa`` with its RCAN backbone) by dropping blocks.

Keeps the first ``blocks`` residual blocks of each of the first ``groups`` residual groups, with each kept
group's closing convolution, the body's closing convolution, the head and the upsampler. The result is the
source network with the dropped blocks (and groups) made identities; a training stage fine-tunes it
(``init.prune`` of a staged recipe, :mod:`attnsr.train.stages`).
"""

from __future__ import annotations

import dataclasses
import re

import torch
from torch import nn

from attnsr.errors import ConfigError
from attnsr.models.registry import create

_GROUP_KEY = re.compile(r"body\.(\d+)\.body\.(\d+)\.(.+)")
_BODY_KEY = re.compile(r"body\.(\d+)\.(.+)")


def prune_state(state: dict[str, torch.Tensor], groups: int, blocks: int, old_groups: int,
                old_blocks: int) -> dict[str, torch.Tensor]:
    """Rename/drop keys of an RCAN body: blocks ``body.g.body.b`` (b < old_blocks), the group conv
    ``body.g.body.<old_blocks>`` and the body conv ``body.<old_groups>``. Pure: returns a new dict."""
    out = {}
    for key, value in state.items():
        m = _GROUP_KEY.fullmatch(key)
        if m and int(m[1]) < old_groups:
            g, b = int(m[1]), int(m[2])
            if g >= groups:
                continue
            if b == old_blocks:
                out[f"body.{g}.body.{blocks}.{m[3]}"] = value
            elif b < blocks:
                out[key] = value
            continue
        m = _BODY_KEY.fullmatch(key)
        if m and int(m[1]) == old_groups:
            out[f"body.{groups}.{m[2]}"] = value
            continue
        out[key] = value
    return out


def prune_blocks(model: nn.Module, blocks: int, groups: int = 0) -> nn.Module:
    """A new network: ``model`` cut to its first ``blocks`` blocks per group and first ``groups`` groups
    (0 = all). ``model`` is left unchanged. ConfigError for a network without an RCAN body or counts
    outside the source's."""
    name, cfg = getattr(model, "attnsr_name", None), getattr(model, "attnsr_config", None)
    if cfg is None or getattr(cfg, "backbone", "rcan") != "rcan" or not hasattr(cfg, "n_resgroups"):
        raise ConfigError(f"prune: {name or type(model).__name__} has no RCAN residual groups to cut")
    groups = groups or cfg.n_resgroups
    if not (0 < blocks <= cfg.n_resblocks and 0 < groups <= cfg.n_resgroups):
        raise ConfigError(f"prune: blocks {blocks} / groups {groups} must be within the source's "
                          f"{cfg.n_resblocks} blocks x {cfg.n_resgroups} groups")
    state = prune_state(model.state_dict(), groups, blocks, cfg.n_resgroups, cfg.n_resblocks)
    options = {**dataclasses.asdict(cfg), "n_resgroups": groups, "n_resblocks": blocks}
    scale = options.pop("scale")
    pruned = create(str(name), scale=scale, **options)
    pruned.load_state_dict(state, strict=True)
    return pruned
