"""attnsr.models.prune: the cut model is the source with the dropped blocks made identities."""

from __future__ import annotations

import pytest
import torch

from attnsr.errors import ConfigError
from attnsr.models import create
from attnsr.models.prune import prune_blocks


@pytest.mark.parametrize("groups, blocks", [(3, 2), (2, 3), (3, 4)])
def test_pruned_model_equals_source_with_dropped_blocks_silenced(groups: int, blocks: int) -> None:
    torch.manual_seed(0)
    source = create("dfsa", scale=2, n_feats=8, n_resgroups=3, n_resblocks=4, reduction=2,
                    hpf_placement="none").eval()
    with torch.no_grad():  # non-trivial weights everywhere, so a wrong key mapping changes the output
        for p in source.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    before = {k: v.clone() for k, v in source.state_dict().items()}
    cut = prune_blocks(source, blocks, groups).eval()
    assert all(torch.equal(v, before[k]) for k, v in source.state_dict().items())  # the source is untouched
    assert (cut.attnsr_config.n_resgroups, cut.attnsr_config.n_resblocks) == (groups, blocks)

    # reference: the source with each dropped block's last convolution zeroed (block = identity) and each
    # dropped group's blocks and closing conv zeroed (group = identity)
    with torch.no_grad():
        for g, group in enumerate(source.body[:3]):
            for b, block in enumerate(group.body[:4]):
                if g >= groups or b >= blocks:
                    block.body[2].weight.zero_()
                    block.body[2].bias.zero_()
            if g >= groups:
                group.body[4].weight.zero_()
                group.body[4].bias.zero_()
    x = torch.rand(1, 3, 12, 10)
    with torch.inference_mode():
        assert torch.allclose(cut(x), source(x), atol=1e-6)


def test_rejects_more_blocks_than_the_source_and_other_networks() -> None:
    source = create("dfsa", scale=2, n_feats=8, n_resgroups=2, n_resblocks=2, reduction=2, hpf_placement="none")
    with pytest.raises(ConfigError, match="blocks 3 / groups 2 must be within the source's 2 blocks x 2 groups"):
        prune_blocks(source, 3)
    with pytest.raises(ConfigError, match="no RCAN residual groups"):
        prune_blocks(create("srvgg", scale=2, nf=8, num_conv=2), 1)
