"""The engine's speed transformations (folded weights, channels_last, whole-image shortcut) keep the output
of the plain model: a naive ``model(x)`` in NCHW is the independent reference, at reduced network sizes."""

from __future__ import annotations

import pytest
import torch

from attnsr.infer.engine import CPU_CHANNELS_LAST, EngineOptions, Upscaler, default_channels_last
from attnsr.models import create

# (registry name, reduced config, scale): one of each family, global attention and pooling included.
NETWORKS = [
    ("defian_s", dict(n_channels=16, n_blocks=1, n_modules=2, reduction=4), 2),
    ("hspan", dict(n_resgroups=2, n_resblocks=1, n_feats=16, reduction=2), 2),
    ("fsanet", dict(n_blocks=1, group=4), 2),
    ("dfsa", dict(n_resgroups=2, n_resblocks=1, n_feats=16, reduction=4, hpf_groups=4), 3),
    ("rcan", dict(n_resgroups=1, n_resblocks=2, n_feats=16, reduction=4), 2),
    ("rrdbnet", dict(nb=1, nf=16), 2),
    ("fssrgan", dict(nf=8, nb_e=1, nb_g=1), 4),
]


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    torch.set_num_threads(1)  # tiny tensors: avoid OpenMP oversubscription on the shared machine


@pytest.mark.parametrize("name,cfg,scale", NETWORKS, ids=[n for n, _, _ in NETWORKS])
def test_engine_layouts_equal_plain_forward(name: str, cfg: dict, scale: int) -> None:
    torch.manual_seed(0)
    model = create(name, scale=scale, **cfg).eval()
    x = torch.rand(1, 3, 21, 18, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ref = model(x)
    for channels_last in (False, True):
        out = Upscaler(model, device="cpu", tile=0, channels_last=channels_last, border="none").upscale_tensor(x)
        assert out.shape == ref.shape == (1, 3, 21 * scale, 18 * scale)
        assert out.is_contiguous(), "the engine must hand back NCHW-contiguous tensors"
        diff = (out - ref).abs().max().item()
        assert diff <= 1e-5, f"{name} channels_last={channels_last}: max diff {diff:.2e} vs plain model(x)"


def test_channels_last_tiles_and_batches_equal_nchw() -> None:
    """Tiled, batched and self-ensembled paths agree across layouts (they slice and stitch NHWC outputs)."""
    torch.manual_seed(0)
    model = create("rrdbnet", scale=2, nb=1, nf=16)
    x = torch.rand(2, 3, 30, 27, generator=torch.Generator().manual_seed(2))
    for kw in (dict(tile=12, batch=3), dict(tile=0, self_ensemble=True)):
        a = Upscaler(model, device="cpu", channels_last=False, **kw).upscale_tensor(x)
        b = Upscaler(model, device="cpu", channels_last=True, **kw).upscale_tensor(x)
        assert (a - b).abs().max().item() <= 1e-5, kw


def test_layout_default_resolved_per_device_and_explicit_choice_kept() -> None:
    model = create("rrdbnet", scale=2, nb=1, nf=8)
    assert EngineOptions().channels_last is None
    assert Upscaler(model, device="cpu").options.channels_last is CPU_CHANNELS_LAST
    assert Upscaler(model, device="cpu", channels_last=not CPU_CHANNELS_LAST).options.channels_last is (
        not CPU_CHANNELS_LAST)
    assert default_channels_last(torch.device("cuda")) is True


def test_cpu_layout_default_keeps_nchw_for_hpf_dense_models() -> None:
    """DFSA-EDSR (a dynamic high-pass filter in every block) measured slower in NHWC; DFSA (one per group)
    and filter-free networks faster."""
    dense = create("dfsa_edsr", scale=2, n_feats=16, n_resblocks=2, hpf_groups=4)
    sparse = create("dfsa", scale=2, n_feats=16, n_resgroups=1, n_resblocks=10, reduction=4, hpf_groups=4)
    cpu = torch.device("cpu")
    assert default_channels_last(cpu, dense) is False
    assert default_channels_last(cpu, sparse) is CPU_CHANNELS_LAST
    assert default_channels_last(cpu, create("rrdbnet", scale=2, nb=1, nf=8)) is CPU_CHANNELS_LAST


def test_user_model_left_in_nchw() -> None:
    """The engine converts its folded copy, never the caller's model."""
    model = create("rrdbnet", scale=2, nb=1, nf=8)
    Upscaler(model, device="cpu", channels_last=True)
    assert all(p.is_contiguous() for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())


def test_whole_image_reports_progress_once() -> None:
    model = create("rrdbnet", scale=2, nb=1, nf=8)
    done: list[int] = []
    Upscaler(model, device="cpu", tile=0).upscale_tensor(torch.rand(3, 10, 12), progress=done.append)
    assert done == [1]
