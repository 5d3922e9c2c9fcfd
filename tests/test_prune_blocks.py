"""scripts/prune_blocks.py: the cut model is the source with the dropped blocks made identities."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import torch

from attnsr.models import create, load_model, save_model

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "prune_blocks.py"


def _script():
    spec = importlib.util.spec_from_file_location("prune_blocks", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("groups, blocks", [(3, 2), (2, 3), (3, 4)])
def test_pruned_model_equals_source_with_dropped_blocks_silenced(tmp_path: Path, groups: int, blocks: int) -> None:
    torch.manual_seed(0)
    source = create("dfsa", scale=2, n_feats=8, n_resgroups=3, n_resblocks=4, reduction=2,
                    hpf_placement="none").eval()
    with torch.no_grad():  # non-trivial weights everywhere, so a wrong key mapping changes the output
        for p in source.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    save_model(source, tmp_path / "src.safetensors")
    assert _script().main([str(tmp_path / "src.safetensors"), "-o", str(tmp_path / "cut.safetensors"),
                           "--blocks", str(blocks), "--groups", str(groups)]) == 0
    cut = load_model(tmp_path / "cut.safetensors")
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


def test_rejects_more_blocks_than_the_source(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    save_model(create("dfsa", scale=2, n_feats=8, n_resgroups=2, n_resblocks=2, reduction=2, hpf_placement="none"),
               tmp_path / "src.safetensors")
    assert _script().main([str(tmp_path / "src.safetensors"), "-o", str(tmp_path / "o.safetensors"),
                           "--blocks", "3"]) == 2
    assert "--blocks" in capsys.readouterr().err
    assert not (tmp_path / "o.safetensors").exists()
