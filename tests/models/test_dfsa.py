"""DFSA: the weight-free properties of spec dfsa.md §8 (HPF, MMCA, assembled network), parameter counts
(§4.3), detection and loading. Network-level invariances use shallow float64 configs (spec §8 warning)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
import torch
import torch.nn.functional as F

from attnsr.errors import CheckpointError, ConfigError
from attnsr.models import from_official, registry
from attnsr.models.dfsa import ABLATIONS, DFSA, EDSR_BASELINE, ENTRIES, DFSAConfig, detect
from attnsr.models.rcan import RCAN, RCANConfig
from attnsr.ops.common import CALayer, Upsampler
from attnsr.ops.dct import FREQ_RANKINGS, dct2, dct_matrix, frequency_indices
from attnsr.ops.hpf import DynamicHighPass, apply_lowpass, lowpass_shift, lowpass_unfold, pad_same
from attnsr.ops.mmca import MMCA

F64 = torch.float64
SMALL = dict(n_resgroups=2, n_resblocks=2, n_feats=16, reduction=4, hpf_groups=4, n_freqs=4)


@pytest.fixture(autouse=True)
def _single_thread() -> None:
    # Tiny tensors: one thread avoids OpenMP oversubscription on the shared 2-core machine.
    torch.set_num_threads(1)


def small(seed: int = 0, dtype: torch.dtype = F64, **cfg: object) -> DFSA:
    torch.manual_seed(seed)
    return DFSA(DFSAConfig(**{**SMALL, **cfg})).to(dtype).eval()  # type: ignore[arg-type]


def hpf(seed: int = 0, **kw: object) -> DynamicHighPass:
    torch.manual_seed(seed)
    return DynamicHighPass(16, groups=4, **kw).double().eval()  # type: ignore[arg-type]


def randomise_bn(m: torch.nn.Module) -> None:
    """Non-trivial BN statistics, so eval-mode tests exercise them."""
    for bn in m.modules():
        if isinstance(bn, torch.nn.BatchNorm2d):
            bn.running_mean.uniform_(-0.5, 0.5)
            bn.running_var.uniform_(0.5, 2.0)
            bn.weight.data.uniform_(0.5, 1.5)
            bn.bias.data.uniform_(-0.5, 0.5)


# ------------------------------------------------------------------------------------------ §8.1 HPF

@pytest.mark.parametrize("h,w", [(2, 2), (5, 3), (1, 4), (9, 16)])
def test_hpf_shape_dtype(h: int, w: int) -> None:
    for dtype in (torch.float32, F64):
        m = hpf().to(dtype)
        x = torch.randn(2, 16, h, w, dtype=dtype)
        y = m(x)
        assert y.shape == x.shape and y.dtype == dtype and y.device == x.device


def test_hpf_kernels_positive_and_group_normalised() -> None:
    m = hpf()
    randomise_bn(m)
    k = m.predict_kernels(torch.randn(2, 16, 6, 7, dtype=F64))
    assert k.shape == (2, 4, 9, 6, 7)
    assert (k > 0).all()
    assert torch.allclose(k.sum(2), torch.ones_like(k.sum(2)), atol=1e-12)
    joint = hpf(softmax_scope="all").predict_kernels(torch.randn(2, 16, 6, 7, dtype=F64))
    assert torch.allclose(joint.sum((1, 2)), torch.ones(2, 6, 7, dtype=F64), atol=1e-12)  # Zou's quirk
    assert not torch.allclose(joint.sum(2), torch.ones_like(joint.sum(2)), atol=1e-3)


@pytest.mark.parametrize("h,w", [(2, 2), (7, 5), (1, 3)])
def test_hpf_constant_input_has_zero_highpass(h: int, w: int) -> None:
    c = torch.randn(3, 16, 1, 1, dtype=F64).expand(3, 16, h, w).contiguous()
    m = hpf(mode="highpass")
    randomise_bn(m)
    assert m(c).abs().max() < 1e-12  # including the borders (reflect padding)
    res = hpf(mode="residual")
    assert torch.allclose(res(c), c, atol=1e-12)
    x32 = c.float()
    assert hpf(mode="highpass").float()(x32).abs().max() < 1e-5


def test_hpf_uniform_kernel_limit_is_box_mean() -> None:
    m = hpf(mode="highpass")
    with torch.no_grad():
        m.kernel_conv.weight.zero_()
    x = torch.randn(2, 16, 6, 5, dtype=F64)
    box = F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), 3, stride=1)
    assert torch.allclose(m(x), x - box, atol=1e-12)


def test_hpf_delta_kernel_limit() -> None:
    m = hpf(mode="highpass")
    with torch.no_grad():
        m.kernel_bn.bias.view(4, 9)[:, 4] = 50.0  # centre tap of every group dominates
    x = torch.randn(1, 16, 6, 6, dtype=F64)
    assert m(x).abs().max() < 1e-6 * x.abs().max()


def test_lowpass_linear_and_channel_separable() -> None:
    torch.manual_seed(1)
    k = torch.softmax(torch.randn(2, 4, 9, 5, 6, dtype=F64), dim=2)
    x, y = torch.randn(2, 16, 5, 6, dtype=F64), torch.randn(2, 16, 5, 6, dtype=F64)
    assert torch.allclose(apply_lowpass(2 * x - 3 * y, k), 2 * apply_lowpass(x, k) - 3 * apply_lowpass(y, k))
    x2 = x.clone()
    x2[:, 5] += 1.0  # change channel 5 only
    diff = (apply_lowpass(x2, k) - apply_lowpass(x, k)).abs().amax((0, 2, 3))
    assert diff[5] > 0 and torch.all(diff[torch.arange(16) != 5] == 0)


def test_hpf_translation_equivariance() -> None:
    m = hpf()
    randomise_bn(m)
    x = torch.randn(1, 16, 16, 16, dtype=F64)
    y, ys = m(x), m(torch.roll(x, (3, 2), dims=(2, 3)))
    # ys[i, j] == y[i-3, j-2] wherever neither neighbourhood touches a border or the wrap seam.
    assert torch.allclose(ys[..., 4:15, 3:15], y[..., 1:12, 1:13], atol=1e-12)


def test_unfold_and_shift_forms_agree() -> None:
    torch.manual_seed(2)
    for k in (3, 5):
        x = torch.randn(2, 16, 7, 9)
        kern = torch.softmax(torch.randn(2, 4, k * k, 7, 9), dim=2)
        xp = pad_same(x, k)
        assert torch.allclose(lowpass_shift(xp, kern), lowpass_unfold(xp, kern), atol=1e-6)


def test_hpf_batch_independence_params_and_gradient() -> None:
    m = hpf()
    randomise_bn(m)
    x = torch.randn(3, 16, 6, 7, dtype=F64)
    assert torch.allclose(m(x)[1:2], m(x[1:2]), atol=1e-13)
    full = DynamicHighPass(64, 3, 8)
    # conv C -> G·k² with k×k taps, + BN affine (the spec's general "C·G·k²" drops one k²; its 41,616 is right)
    assert sum(p.numel() for p in full.parameters()) == 64 * (8 * 9) * 9 + 2 * 8 * 9 == 41_616
    full.train()
    full(torch.randn(2, 64, 5, 5)).square().mean().backward()
    assert full.kernel_conv.weight.grad is not None and full.kernel_conv.weight.grad.abs().sum() > 0


# ----------------------------------------------------------------------------------------- §8.2 MMCA

@pytest.mark.parametrize("s", [7, 14, 5])
def test_dct_orthonormal(s: int) -> None:
    for dtype, tol in ((torch.float32, 1e-6), (F64, 1e-13)):
        d = dct_matrix(s, dtype=dtype)
        assert torch.allclose(d @ d.T, torch.eye(s, dtype=dtype), atol=tol)
        assert torch.allclose(d[0], torch.full((s,), s ** -0.5, dtype=dtype), atol=tol)


def test_parseval_and_constant_map() -> None:
    d = dct_matrix(7)
    p = torch.randn(2, 3, 7, 7, dtype=F64)
    s = dct2(p, d, d)
    assert torch.allclose(s.flatten(2).norm(dim=2), p.flatten(2).norm(dim=2), atol=1e-12)
    const = dct2(torch.full((7, 7), 0.3, dtype=F64), d, d)
    assert abs(const[0, 0] - 7 * 0.3) < 1e-13
    const[0, 0] = 0
    assert const.abs().max() < 1e-13


@pytest.mark.parametrize("h,w", [(14, 21), (5, 3), (20, 33)])
def test_spectrum_parity_under_flips(h: int, w: int) -> None:
    m = MMCA(16, 4, 4).double()
    x = torch.randn(1, 16, h, w, dtype=F64)
    s = m.spectrum(x)
    sign_v = (-1.0) ** torch.arange(7, dtype=F64)
    assert torch.allclose(m.spectrum(x.flip(3)), s * sign_v.view(1, 7), atol=1e-12)
    assert torch.allclose(m.spectrum(x.flip(2)), s * sign_v.view(7, 1), atol=1e-12)


def test_attention_gate_properties() -> None:
    for exc in ("flatten", "freqmix", "fcanet"):
        torch.manual_seed(3)
        m = MMCA(16, 4, 4, excitation=exc).double()
        x = torch.randn(2, 16, 9, 6, dtype=F64)
        x[0, 0, 4, 2] = 0.0
        y, gate = m(x), m.gate(x)
        assert gate.shape == (2, 16, 1, 1) and ((gate > 0) & (gate < 1)).all()
        assert y[0, 0, 4, 2] == 0 and (y.abs() <= x.abs()).all() and (torch.sign(y) == torch.sign(x)).all()
        nz = x != 0
        assert torch.allclose((y / torch.where(nz, x, torch.ones_like(x)))[nz], gate.expand_as(x)[nz], atol=1e-12)


def test_dc_only_mmca_equals_rcan_ca() -> None:
    torch.manual_seed(4)
    ca = CALayer(16, 4).double()
    mm = MMCA(16, 4, n_freqs=1, excitation="freqmix").double()
    mm.conv_du.load_state_dict(ca.conv_du.state_dict())
    with torch.no_grad():
        mm.freq_weight.fill_(1 / 7)
    x = torch.randn(2, 16, 21, 35, dtype=F64)
    assert torch.allclose(mm(x), ca(x), atol=1e-10)


@pytest.mark.parametrize("exc", ["flatten", "freqmix", "fcanet"])
def test_constant_input_gate_is_size_independent(exc: str) -> None:
    torch.manual_seed(5)
    m = MMCA(16, 4, 4, excitation=exc).double()
    v = torch.randn(1, 16, 1, 1, dtype=F64)
    gates = [m.gate(v.expand(1, 16, h, w)) for h, w in ((3, 2), (7, 7), (12, 30))]
    for g in gates[1:]:
        assert torch.allclose(g, gates[0], atol=1e-12)


def test_frequency_indices_follow_fcanet_ranking() -> None:
    u, v = frequency_indices("top", 16)
    assert u == [0, 0, 6, 0, 0, 1, 1, 4, 5, 1, 3, 0, 0, 0, 3, 2]
    assert v == [0, 1, 0, 5, 2, 0, 2, 0, 0, 6, 0, 4, 6, 3, 5, 2]
    assert frequency_indices("top", 32)[0][16:] == [4, 6, 3, 5, 5, 2, 6, 5, 5, 3, 3, 4, 2, 2, 6, 1]
    u14, v14 = frequency_indices("top", 16, 14)
    assert u14 == [2 * a for a in u] and max(u14 + v14) < 14
    for name in FREQ_RANKINGS:  # every ranking lists 32 distinct positions of the 7x7 grid
        assert len(set(zip(*FREQ_RANKINGS[name]))) == 32


def test_mmca_batch_independence_and_param_counts() -> None:
    m = MMCA(16, 4, 4).double()
    x = torch.randn(3, 16, 8, 11, dtype=F64)
    assert torch.allclose(m(x)[2:], m(x[2:]), atol=1e-13)
    counts = {e: sum(p.numel() for p in MMCA(64, 16, 16, excitation=e).parameters())
              for e in ("flatten", "freqmix", "fcanet")}
    assert counts == {"flatten": 4_420, "freqmix": 596, "fcanet": 580}
    assert sum(p.numel() for p in CALayer(64, 16).parameters()) == 580


def test_full_map_dct_matches_pooled_at_7x7() -> None:
    torch.manual_seed(6)
    pooled = MMCA(16, 4, 8).double()
    whole = MMCA(16, 4, 8, pool_size=None).double()
    whole.load_state_dict(pooled.state_dict())
    x = torch.randn(2, 16, 7, 7, dtype=F64)
    assert torch.allclose(whole(x), pooled(x), atol=1e-12)
    assert whole(torch.randn(1, 16, 3, 10, dtype=F64)).shape == (1, 16, 3, 10)


# ------------------------------------------------------------------------------- §8.3 assembled network

@contextmanager
def no_init() -> Iterator[None]:
    """Build full-size models fast: skip weight initialisation (only shapes are counted)."""
    with mock.patch.object(torch.nn.Conv2d, "reset_parameters", lambda self: None), \
            mock.patch("torch.nn.init.kaiming_normal_", lambda *a, **k: None):
        yield


def trainable(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


RCAN_COUNTS = {2: 15_444_643, 3: 15_629_283, 4: 15_592_355}
SPEC_TABLE = {  # spec §4.3, printed numbers for x2, x3, x4
    "reference": (16_628_803, 16_813_443, 16_776_515),
    "mmca_only": (16_212_643, 16_397_283, 16_360_355),
    "freqmix": (15_864_003, 16_048_643, 16_011_715),
    "hpf_block": (24_535_843, 24_720_483, 24_683_555),
    "freqmix_hpf_block": (23_771_043, 23_955_683, 23_918_755),
    "rcan": tuple(RCAN_COUNTS.values()),
}


def test_reference_param_counts_every_scale() -> None:
    for scale, expected in zip((2, 3, 4), SPEC_TABLE["reference"]):
        with no_init():
            model = DFSA(DFSAConfig(scale=scale))
        assert trainable(model) == expected == ENTRIES[0].official_params[scale]


@pytest.mark.parametrize("name,overrides", [*ABLATIONS.items(), ("edsr_baseline", EDSR_BASELINE)])
def test_param_counts_spec_table_and_formula(name: str, overrides: dict) -> None:  # type: ignore[type-arg]
    """Spec §4.3: printed table, and P = P_RCAN + 200·(P_att − 580) + n_HPF·41,616 for every ablation.

    Built once at x2; x3/x4 swap in the tail upsampler the constructor would build (shapes at those scales
    are checked by the forward tests), to keep this file fast on a shared 2-core machine.
    """
    att = {"flatten": 4_420, "freqmix": 596, "fcanet": 580}[overrides.get("mmca_excitation", "flatten")]
    att = 580 if overrides.get("attention") == "ca" else att
    hpf_n = {"group": 10, "block": 200, "none": 0}[overrides.get("hpf_placement", "group")]
    with no_init():
        model = DFSA(DFSAConfig(scale=2, **overrides))
    for scale in (2, 3, 4):
        model.tail[0] = Upsampler(scale, 64)
        n = trainable(model)
        up = {2: 147_712, 3: 332_352, 4: 295_424}[scale]
        if name == "edsr_baseline":
            assert n == 1_792 + 16 * (2 * 36_928 + 4_420 + 41_616) + 36_928 + up + 1_731
            assert ENTRIES[1].official_params[scale] == n
        else:
            assert n == RCAN_COUNTS[scale] + 200 * (att - 580) + hpf_n * 41_616
        if name in SPEC_TABLE:
            assert n == SPEC_TABLE[name][scale - 2]


@pytest.mark.parametrize("cfg", [{}, {"hpf_placement": "block", "mmca_excitation": "freqmix"},
                                 {**EDSR_BASELINE, "n_resblocks": 2, "res_scale": 0.1}])
def test_output_shapes_odd_sizes(cfg: dict) -> None:  # type: ignore[type-arg]
    for scale in (2, 3, 4):
        model = small(dtype=torch.float32, scale=scale, **cfg)
        for h, w in ((5, 7), (4, 4), (2, 9)):
            assert model(torch.rand(1, 3, h, w)).shape == (1, 3, h * scale, w * scale)


def test_rcan_state_dict_loads_into_ca_mode_and_matches() -> None:
    torch.manual_seed(7)
    rcan = RCAN(RCANConfig(n_resgroups=2, n_resblocks=2, n_feats=16, reduction=4)).double().eval()
    dfsa = small(attention="ca", hpf_placement="none")
    dfsa.load_state_dict(rcan.state_dict(), strict=True)
    x = torch.rand(2, 3, 6, 5, dtype=F64)
    assert torch.allclose(dfsa(x), rcan(x), atol=1e-12)


def test_dc_only_network_reproduces_rcan() -> None:
    """§8.3(c): MMCA freqmix, N = 1, w = 1/s, no HPF == RCAN with the same weights (H, W multiples of 7)."""
    torch.manual_seed(8)
    rcan = RCAN(RCANConfig(n_resgroups=2, n_resblocks=2, n_feats=16, reduction=4)).double().eval()
    dfsa = small(hpf_placement="none", mmca_excitation="freqmix", n_freqs=1)
    missing, unexpected = dfsa.load_state_dict(rcan.state_dict(), strict=False)
    assert all(k.endswith("freq_weight") for k in missing) and not unexpected
    with torch.no_grad():
        for name, p in dfsa.named_parameters():
            if name.endswith("freq_weight"):
                p.fill_(1 / 7)
    x = torch.rand(1, 3, 14, 21, dtype=F64)
    assert torch.allclose(dfsa(x), rcan(x), atol=1e-9)


def test_zero_tail_gives_div2k_mean() -> None:
    model = small(dtype=torch.float32)
    with torch.no_grad():
        model.tail[1].weight.zero_()
        model.tail[1].bias.zero_()
        y = model(torch.rand(1, 3, 5, 6))
    mean = torch.tensor([0.4488, 0.4371, 0.4040]).view(1, 3, 1, 1)
    assert torch.allclose(y, mean.expand_as(y), atol=1e-6)


def test_batch_independence_and_determinism() -> None:
    model = small(hpf_placement="block")
    randomise_bn(model)
    x = torch.rand(3, 3, 8, 7, dtype=F64)
    with torch.no_grad():
        y = model(x)
        assert torch.allclose(y[1:2], model(x[1:2]), atol=1e-10)
        assert torch.equal(y, model(x))


def test_few_steps_reduce_l1() -> None:
    torch.manual_seed(9)
    model = DFSA(DFSAConfig(**SMALL)).train()
    lr, hr = torch.rand(2, 3, 8, 8), torch.rand(2, 3, 16, 16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(5):
        loss = F.l1_loss(model(lr), hr)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


@pytest.mark.parametrize("placement,count", [("group", 2), ("block", 4), ("none", 0)])
def test_forward_with_maps(placement: str, count: int) -> None:
    model = small(hpf_placement=placement)
    x = torch.rand(2, 3, 6, 5, dtype=F64)
    y, maps = model.forward_with_maps(x)
    assert torch.equal(y, model(x)) and len(maps) == count
    names = dict(model.named_modules())
    for key, hf in maps.items():
        assert isinstance(names[key], DynamicHighPass)  # keyed by the module's state-dict path
        assert hf.shape == (2, 16, 6, 5)
    if placement == "group":
        assert list(maps) == ["body.0.body.3", "body.1.body.3"]


def test_config_errors_name_the_field() -> None:
    for bad, word in (({"hpf_mode": "boost"}, "hpf_mode"), ({"backbone": "edsr"}, "hpf_placement"),
                      ({"hpf_groups": 3}, "hpf_groups"), ({"dct_size": 8}, "dct_size"),
                      ({"mmca_excitation": "fcanet", "n_freqs": 3, "reduction": 4}, "fcanet")):
        with pytest.raises(ConfigError, match=word):
            DFSAConfig(**{**SMALL, **bad})


# ------------------------------------------------------------------------------------ detection, loading

DETECT_CASES = [
    {},
    {"hpf_placement": "block", "mmca_excitation": "freqmix", "hpf_mode": "concat", "scale": 3},
    {"attention": "ca", "hpf_kernel": 5, "hpf_groups": 2, "scale": 4, "n_freqs": 16},
    {"hpf_placement": "none", "n_freqs": 8, "hpf_groups": 8},
    {**EDSR_BASELINE, "n_resblocks": 3, "n_resgroups": 10},
]


@pytest.mark.parametrize("cfg", DETECT_CASES)
def test_detect_our_state_dicts(cfg: dict) -> None:  # type: ignore[type-arg]
    built = DFSAConfig(**{**SMALL, **cfg})
    with torch.device("meta"):
        sd = DFSA(built).state_dict()
    found = detect(sd)
    assert found is not None and DFSAConfig(**found) == built


def test_detect_rejects_foreign(shared) -> None:  # type: ignore[no-untyped-def]
    hspan = {k: torch.empty(shape, device="meta") for k, shape in
             json.loads((shared / "conformance" / "hspan" / "keys_x2.json").read_text())}
    assert detect(hspan) is None
    with torch.device("meta"):
        edsr = DFSA(DFSAConfig(backbone="edsr", attention="none", hpf_placement="none", n_resblocks=4)).state_dict()
    assert detect(edsr) is None  # plain EDSR is not DFSA
    assert detect({"conv_first.weight": torch.empty(64, 3, 3, 3)}) is None


def test_from_official_roundtrip_and_registry_order(tmp_path: Path) -> None:
    model = small(dtype=torch.float32, scale=3, hpf_placement="block")
    randomise_bn(model)
    path = tmp_path / "dfsa_x3.pth"
    torch.save(model.state_dict(), path)
    loaded = from_official(path)
    assert loaded.attnsr_name == "dfsa"
    assert loaded.attnsr_config == DFSAConfig(**{**SMALL, "scale": 3, "hpf_placement": "block"})
    x = torch.rand(1, 3, 6, 7)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
    rcan_sd = RCAN(RCANConfig(n_resgroups=2, n_resblocks=2, n_feats=16, reduction=4)).state_dict()
    assert from_official(rcan_sd).attnsr_name == "rcan"  # RCAN dicts go to rcan, earlier in the order
    as_dfsa = from_official(rcan_sd, arch="dfsa")
    assert as_dfsa.attnsr_config.attention == "ca" and as_dfsa.attnsr_config.hpf_placement == "none"


def test_broken_dfsa_state_dict_lists_problems() -> None:
    sd = dict(small(dtype=torch.float32).state_dict())
    del sd["body.1.body.3.kernel_bn.running_var"]
    sd["body.0.body.0.body.3.conv_du.2.weight"] = torch.zeros(16, 3, 1, 1)
    with pytest.raises(CheckpointError) as err:
        from_official(sd, arch="dfsa")
    msg = str(err.value)
    assert "body.1.body.3.kernel_bn.running_var" in msg and "mis-shaped" in msg


def test_our_format_roundtrip(tmp_path: Path) -> None:
    from attnsr.models import load_model, save_model

    cfg = DFSAConfig(**{**SMALL, "dct_size": None, "hpf_softmax": "all", "hpf_mode": "highpass"})
    torch.manual_seed(10)
    model = registry.tag(DFSA(cfg).eval(), "dfsa", cfg)
    save_model(model, tmp_path / "m.safetensors")
    loaded = load_model(tmp_path / "m.safetensors")
    assert loaded.attnsr_config == cfg  # undetectable choices survive through the metadata
    x = torch.rand(1, 3, 5, 9)
    with torch.no_grad():
        assert torch.equal(loaded(x), model(x))
