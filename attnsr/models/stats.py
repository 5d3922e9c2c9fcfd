"""Parameter and FLOP counts of a network (what ``attnsr models`` prints and benchmarks divide by)."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module, *, trainable_only: bool = False) -> int:
    """Number of parameters (optionally only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def count_flops(model: nn.Module, height: int, width: int, *, channels: int = 3) -> int:
    """Floating-point operations (multiply and add counted separately) of one forward on a
    1×C×H×W input, as counted by torch's FlopCounterMode (convolutions, matmuls, ...)."""
    param = next(model.parameters(), None)
    x = torch.zeros(1, channels, height, width, device=param.device if param is not None else "cpu")
    counter = FlopCounterMode(display=False)
    with torch.inference_mode(), counter:
        model(x)
    return int(counter.get_total_flops())


def count_flops_by_name(name: str, scale: int, height: int, width: int, **config: object) -> int:
    """:func:`count_flops` of registry network ``name`` without computing anything where possible: the
    network is built on the ``meta`` device (shapes only; seconds instead of minutes for the official
    sizes). Networks with data-dependent shapes (HSPAN's sparse attention) are run for real on zeros,
    as :func:`count_flops` does, so both paths give the same number."""
    from attnsr.models import create

    try:
        with torch.device("meta"):
            model = create(name, scale=scale, **config).eval()
            return count_flops(model, height, width)
    except (NotImplementedError, RuntimeError):
        return count_flops(create(name, scale=scale, **config).eval(), height, width)
