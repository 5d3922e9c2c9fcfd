"""DDP and parameters without gradients: found by a probe that changes nothing, and named."""

from __future__ import annotations

import torch

from attnsr.models import create
from attnsr.train.distributed import unused_parameters


def test_probe_finds_the_unused_tail_and_leaves_state_alone() -> None:
    # DeFiAN with one module: the official code keeps `tail` in the state dict but never calls it
    net = create("defian_s", scale=2, n_channels=8, n_blocks=1, n_modules=1, reduction=4).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    rng = torch.get_rng_state()
    unused = unused_parameters(net, torch.device("cpu"), probe=8)
    assert unused == ["tail.weight", "tail.bias"]
    assert torch.equal(torch.get_rng_state(), rng)
    assert all(p.grad is None for p in net.parameters())
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())
    used = create("defian_s", scale=2, n_channels=8, n_blocks=1, n_modules=2, reduction=4).train()
    assert unused_parameters(used, torch.device("cpu"), probe=8) == []
