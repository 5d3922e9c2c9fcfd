"""DeFiAN: official conformance vectors, key/shape lists, parameter counts, detection, and properties of
the Hessian filter (independent truth: finite differences of known polynomials)."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from conformance import load_vector

from attnsr.models import defian, from_official, load_model, save_model
from attnsr.models.checkpoint import detect_entry
from attnsr.models.defian import MSHF, DeFiAN, DeFiANConfig, channel_stats, hessian_max_eigenvalue

TOL = 1e-5
VARIANTS = {"DeFiAN_S": "defian_s", "DeFiAN_L": "defian_l"}
ENTRIES = {e.name: e for e in defian.ENTRIES}
CASES = [(v, s) for v in VARIANTS for s in (2, 3, 4)]


def _dir(shared: Path) -> Path:
    return shared / "conformance" / "defian"


def _vector(shared: Path, scale: int) -> dict:
    return load_vector(_dir(shared) / f"x{scale}_case1.pt")


def _keys(shared: Path, variant: str, scale: int) -> list[tuple[str, tuple[int, ...]]]:
    rows = json.loads((_dir(shared) / f"keys_{variant}_x{scale}.json").read_text())
    return [(k, tuple(shape)) for k, shape in rows]


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    # These forwards are tiny; on a shared, busy machine two intra-op threads were measured 5-20x slower
    # than one (thread hand-off stalls), so this module runs single-threaded.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@functools.lru_cache(maxsize=None)
def _meta_model(name: str, scale: int) -> DeFiAN:
    """Shape-only model at the official configuration (no memory, built once per module run)."""
    with torch.device("meta"):
        return DeFiAN(ENTRIES[name].make_config(scale))


def _meta_state_dict(rows: list[tuple[str, tuple[int, ...]]]) -> dict[str, torch.Tensor]:
    return {k: torch.empty(shape, device="meta") for k, shape in rows}


# ------------------------------------------------------------------------------- conformance vectors


@pytest.mark.parametrize("scale", [2, 4])
def test_conformance_vector_both_ranges(shared: Path, scale: int) -> None:
    vec = _vector(shared, scale)
    assert vec["model"] == "defian" and vec["variant"] == "DeFiAN_S" and vec["forward_args"] == {}
    model = from_official(vec["weights"])
    assert model.attnsr_name == "defian_s" and model.attnsr_config.scale == scale
    assert model.attnsr_config == ENTRIES["defian_s"].make_config(scale)
    with torch.no_grad():
        raw = model.forward_official(vec["input"])  # official range: ImageNet-normalised in and out
        rgb = model(vec["input_rgb01"])  # our range: RGB [0,1] in and out
    assert raw.shape == vec["output"].shape
    assert (raw - vec["output"]).abs().max().item() <= TOL
    assert (rgb - vec["output_rgb01"]).abs().max().item() <= TOL


def test_official_pth_file_and_our_format_round_trip(shared: Path, tmp_path: Path) -> None:
    vec = _vector(shared, 2)
    # Official container {"epoch", "state_dict"}, saved under DataParallel's "module." prefix.
    pth = tmp_path / "DeFiAN_S_x2.pth"
    torch.save({"epoch": 300, "state_dict": {f"module.{k}": v for k, v in vec["weights"].items()}}, pth)
    model = from_official(pth)
    ours = tmp_path / "defian_s_x2.safetensors"
    save_model(model, ours)
    again = load_model(ours)
    with torch.no_grad():
        for m in (model, again):
            assert (m(vec["input_rgb01"]) - vec["output_rgb01"]).abs().max().item() <= TOL


def test_convert_is_pure_and_keeps_official_order(shared: Path) -> None:
    sd = dict(_vector(shared, 4)["weights"])
    before = {k: v.clone() for k, v in sd.items()}
    cfg = ENTRIES["defian_s"].make_config(4)
    out = defian.convert(sd, cfg)
    assert list(out) == list(before) == list(sd)
    assert all(torch.equal(sd[k], before[k]) for k in before)


# ------------------------------------------------------------------------- keys, counts, detection


@pytest.mark.parametrize("variant,scale", CASES)
def test_keys_and_shapes_match_official_list(shared: Path, variant: str, scale: int) -> None:
    ours = [(k, tuple(v.shape)) for k, v in _meta_model(VARIANTS[variant], scale).state_dict().items()]
    assert ours == _keys(shared, variant, scale)


@pytest.mark.parametrize("variant,scale", CASES)
def test_parameter_counts(shared: Path, variant: str, scale: int) -> None:
    counts = json.loads((_dir(shared) / "param_counts.json").read_text())[variant][f"x{scale}"]
    entry = ENTRIES[VARIANTS[variant]]
    assert entry.official_params[scale] == counts["total"]
    model = _meta_model(entry.name, scale)
    total = sum(p.numel() for p in model.parameters())
    assert total == sum(p.numel() for p in model.parameters() if p.requires_grad) == counts["total"]
    # HEAD's count leaves out the frozen Hessian filters (test_freeze_mshf checks which ones freeze_mshf hits).
    mshf = sum(p.numel() for n, p in model.named_parameters() if ".hessian" in n)
    assert total - mshf == counts["trainable"]
    assert len(model.state_dict()) == counts["n_state_dict_entries"]


@pytest.mark.parametrize("variant,scale", CASES)
def test_detect_infers_variant_and_scale(shared: Path, variant: str, scale: int) -> None:
    sd = _meta_state_dict(_keys(shared, variant, scale))
    entry, found = detect_entry(sd)  # every registered network is tried, in registry order
    assert entry.name == VARIANTS[variant]
    assert entry.make_config(**found) == entry.make_config(scale)


def test_detect_ignores_foreign_state_dicts() -> None:
    foreign = {  # EDSR/RCAN-style names and an unrelated conv stack
        "head.0.weight": torch.zeros(64, 3, 3, 3), "body.0.body.0.weight": torch.zeros(64, 64, 3, 3),
        "tail.0.0.weight": torch.zeros(256, 64, 3, 3), "conv_first.weight": torch.zeros(64, 3, 3, 3),
    }
    for entry in defian.ENTRIES:
        assert entry.detect(foreign) is None


# ---------------------------------------------------------------------------- maps and properties


def test_forward_with_maps_shapes_and_consistency() -> None:
    torch.manual_seed(0)
    model = DeFiAN(DeFiANConfig(scale=3, n_channels=32, n_blocks=1, n_modules=2)).eval()
    x = torch.rand(2, 3, 7, 9)
    with torch.no_grad():
        y, maps = model.forward_with_maps(x)
        assert torch.equal(y, model(x))
    assert y.shape == (2, 3, 21, 27)
    expected = {f"body.{i}.{k}" for i in (0, 1) for k in ("hessian3", "hessian5", "hessian7", "diendec", "attention")}
    assert set(maps) == expected
    for name, m in maps.items():
        assert m.shape == ((2, 32, 7, 9) if name.endswith("attention") else (2, 1, 7, 9)), name
    att = maps["body.0.attention"]
    assert ((att > 0) & (att < 1)).all()
    plain = DeFiAN(DeFiANConfig(n_blocks=1, n_modules=2, attention=False))
    assert plain.forward_with_maps(x)[1] == {}


def _stencil_mshf(kernel: int) -> MSHF:
    mshf = MSHF(1, kernel)
    with torch.no_grad():  # the official biases are random; the pure stencils are what the test probes
        for conv in (mshf.grad_xx, mshf.grad_yy, mshf.grad_xy):
            conv.bias.zero_()
    return mshf


@pytest.mark.parametrize("kernel", [3, 5, 7])
def test_hessian_of_constant_image_is_zero_in_interior(kernel: int) -> None:
    d = (kernel - 1) // 2
    with torch.no_grad():
        out = _stencil_mshf(kernel)(torch.tensor([0.7, -0.7]).view(2, 1, 1, 1).expand(2, 1, 16, 13))
    assert out.shape == (2, 1, 16, 13)
    assert out[..., d:-d, d:-d].abs().max().item() == 0.0
    # Zero padding turns the border of a negative constant into a convex step: positive response there.
    assert out[1, 0, :d, :].min().item() > 0.6


@pytest.mark.parametrize("kernel", [3, 5, 7])
def test_hessian_of_quadratics_matches_finite_differences(kernel: int) -> None:
    d = (kernel - 1) // 2
    rows = torch.arange(15.0).view(15, 1)
    cols = torch.arange(12.0).view(1, 12)
    mshf = _stencil_mshf(kernel)
    with torch.no_grad():
        along_w = mshf((0.5 * cols**2).expand(15, 12)[None, None])  # d²/dw² = 1, dilation d -> d²
        along_h = mshf((-(rows**2)).expand(15, 12)[None, None])  # eigenvalues -2d² and 0 -> max 0
        mixed = mshf((rows * cols)[None, None])  # mixed stencil gives 4d², eigenvalues ±4d²
    inner = (..., slice(d, -d), slice(d, -d))
    torch.testing.assert_close(along_w[inner], torch.full_like(along_w[inner], d * d))
    torch.testing.assert_close(along_h[inner], torch.zeros_like(along_h[inner]))
    torch.testing.assert_close(mixed[inner], torch.full_like(mixed[inner], 4 * d * d))


def test_eigenvalue_gradient_is_finite_where_discriminant_vanishes() -> None:
    f = torch.tensor([1.0, 2.0], requires_grad=True)
    lam = hessian_max_eigenvalue(f, f.detach().clone(), torch.zeros(2))
    lam.sum().backward()
    assert torch.equal(lam.detach(), f.detach())
    assert torch.isfinite(f.grad).all()


def test_eigenvalue_inference_path_equals_training_path() -> None:
    """Without autograd a shorter formula runs (no masks, fused passes); it must give the same values,
    including where the discriminant is exactly zero."""
    g = torch.Generator().manual_seed(4)
    fxx, fyy, fxy = (torch.randn(2, 5, 7, 9, generator=g) for _ in range(3))
    fyy[0, 0], fxy[0, 0] = fxx[0, 0], 0.0  # disc = 0 on a whole plane
    with torch.enable_grad():
        slow = hessian_max_eigenvalue(fxx, fyy, fxy)
    with torch.no_grad():
        fast = hessian_max_eigenvalue(fxx, fyy, fxy)
    torch.testing.assert_close(fast, slow, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(fast[0, 0], fxx[0, 0])


@pytest.mark.parametrize("channels_last", [False, True])
def test_network_inference_path_equals_training_path(channels_last: bool) -> None:
    """The inference-only fused DAC/eigenvalue passes equal the autograd path, in either memory format,
    and keep the input's layout (a channels_last result stays channels_last)."""
    torch.manual_seed(0)
    net = DeFiAN(DeFiANConfig(n_channels=16, n_blocks=1, n_modules=2, scale=2)).eval()
    x = torch.rand(1, 3, 15, 12)
    if channels_last:
        net, x = net.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    with torch.enable_grad():
        train_path = net(x)
    with torch.inference_mode():
        infer_path = net(x)
    torch.testing.assert_close(infer_path, train_path, rtol=1e-5, atol=1e-6)
    if channels_last:
        feats = torch.rand(1, 16, 15, 12).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            assert net.body[0](feats).is_contiguous(memory_format=torch.channels_last)


def test_channel_stats_use_unbiased_variance_plus_eps() -> None:
    x = torch.tensor([1.0, 2.0, 4.0, 5.0]).view(1, 1, 2, 2)  # mean 3, unbiased variance 10/3
    mean, std = channel_stats(x)
    assert mean.shape == std.shape == (1, 1, 1, 1)
    torch.testing.assert_close(mean.flatten(), torch.tensor([3.0]))
    torch.testing.assert_close(std.flatten(), torch.tensor([(10 / 3 + 1e-5) ** 0.5]))


def test_freeze_mshf_and_unsupported_scale() -> None:
    frozen = DeFiAN(DeFiANConfig(n_blocks=1, n_modules=2, freeze_mshf=True))
    flags = {n: p.requires_grad for n, p in frozen.named_parameters()}
    assert not any(v for n, v in flags.items() if ".hessian" in n)
    assert all(v for n, v in flags.items() if ".hessian" not in n)
    with pytest.raises(ValueError, match="scale=5"):
        DeFiAN(DeFiANConfig(scale=5))
