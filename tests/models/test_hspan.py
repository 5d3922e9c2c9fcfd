"""HSPAN: conformance vectors of the official code (both sparsemax solver paths and the chop), exact
sparsemax against an independent bisection solver, chunking invariance, keys, parameter counts, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conformance import load_vector

from attnsr.models import create, from_official
from attnsr.models.hspan import (
    HSPAN,
    HSPANConfig,
    SparseRows,
    detect,
    forward_chop,
    sparsemax_attention,
    sparsemax_rows,
)
from attnsr.ops import sparsemax

TOL = 1e-5


def _vector(shared: Path, name: str) -> dict:
    return load_vector(shared / "conformance" / "hspan" / f"{name}.pt")


@pytest.mark.parametrize("name", ["x2_case1", "x4_case1"])
def test_conformance_vectors(shared: Path, name: str) -> None:
    vec = _vector(shared, name)
    model = from_official(vec["weights"])
    assert isinstance(model, HSPAN) and model.scale == vec["scale"]
    with torch.no_grad():
        out = model(vec["input"])
    assert (out - vec["output"]).abs().max().item() <= TOL


@pytest.mark.parametrize("topk", [1, 5, 64, 100_000])
def test_both_solver_paths_reproduce_the_reference(shared: Path, topk: int) -> None:
    """topk < P: top-k window with rows whose support exceeds it (the vectors record supports up to 140
    for topk 64, so the growth step runs); topk >= P (576): the full-sort path. Outputs must not depend
    on topk."""
    vec = _vector(shared, "x2_case1")
    stats = vec["hspa_support_stats"]
    assert any(s["support_max"] > 64 for s in stats) and any(s["support_min"] < 64 for s in stats)
    model = from_official(vec["weights"], topk=topk)
    with torch.no_grad():
        out = model(vec["input"])
    assert (out - vec["output"]).abs().max().item() <= TOL


def test_chop_case_and_plain_forward(shared: Path) -> None:
    vec = _vector(shared, "x2_chop_case")
    model = from_official(vec["weights"])
    with torch.no_grad():
        chopped = forward_chop(model, vec["input"])
        plain = model(vec["input"])
    assert (chopped - vec["output"]).abs().max().item() <= TOL
    assert (plain - vec["output_plain"]).abs().max().item() <= TOL
    # global attention: the chop changes the result (the vector records ~1e-4)
    assert (chopped - plain).abs().max().item() > 1e-5


def test_loads_from_saved_pth_file(shared: Path, tmp_path: Path) -> None:
    vec = _vector(shared, "x4_case1")
    path = tmp_path / "HSPAN_x4.pt"
    torch.save(vec["weights"], path)
    model = from_official(path)
    with torch.no_grad():
        assert (model(vec["input"]) - vec["output"]).abs().max().item() <= TOL


def test_small_input_chop_falls_back_to_whole_image(shared: Path) -> None:
    vec = _vector(shared, "x2_case1")
    model = from_official(vec["weights"])
    x = vec["input"][..., :20, :20]  # official chop would crash: padded crop 24 > 20
    with torch.no_grad():
        assert torch.equal(forward_chop(model, x), model(x))


def _sparsemax_bisection(scores: torch.Tensor) -> torch.Tensor:
    """Independent truth: τ with Σ max(z − τ, 0) = 1 found by float64 bisection, no sorting."""
    z = scores.double()
    lo = z.max(-1, keepdim=True).values - 1
    hi = z.max(-1, keepdim=True).values
    for _ in range(100):
        mid = (lo + hi) / 2
        too_low = (z - mid).clamp(min=0).sum(-1, keepdim=True) > 1
        lo, hi = torch.where(too_low, mid, lo), torch.where(too_low, hi, mid)
    return (z - (lo + hi) / 2).clamp(min=0)


def _dense(sparse: SparseRows, shape: tuple[int, int]) -> torch.Tensor:
    """Dense float64 matrix of a sparse result, after checking its form: sorted rows, no repeated key."""
    rows, cols = sparse.rows, sparse.cols
    assert bool((rows[1:] >= rows[:-1]).all())
    assert torch.unique(rows * shape[1] + cols).numel() == rows.numel()
    out = torch.zeros(shape, dtype=torch.float64)
    out[rows, cols] = sparse.weights.double()
    return out


@pytest.mark.parametrize("spread", [0.2, 3.0, 40.0])
@pytest.mark.parametrize("topk", [2, 16, 1000])
def test_sparsemax_rows_is_exact(spread: float, topk: int) -> None:
    """P = 300 (padded to 320 by the fast path); topk 1000 >= P runs the official full-sort solver."""
    g = torch.Generator().manual_seed(int(spread * 10) + topk)
    scores = torch.randn(37, 300, generator=g) * spread
    sparse = sparsemax_rows(scores, topk)
    assert bool((sparse.weights > 0).all())
    dense = _dense(sparse, tuple(scores.shape))
    truth = _sparsemax_bisection(scores)
    assert (dense - truth).abs().max().item() < 1e-5
    assert torch.allclose(dense.sum(-1), torch.ones(37, dtype=torch.float64), atol=1e-5)
    # same support as the independent solver, up to keys whose weight is a rounding error either way
    differ = (dense > 0) != (truth > 0)
    assert bool((truth[differ] < 1e-6).all() and (dense[differ] < 1e-6).all())


@pytest.mark.parametrize("spread", [0.005, 0.5, 40.0])
def test_fast_path_rounds_like_the_official_solver(spread: float) -> None:
    """τ from the support (float64 sum, one rounding) equals the official sorted-cumsum τ: the fast path
    (topk < P) and the official full-sort solver (topk >= P) give bit-identical weights, wide supports
    (spread 0.005: hundreds of keys) included."""
    g = torch.Generator().manual_seed(2)
    scores = torch.randn(64, 700, generator=g) * spread
    fast, official = (_dense(sparsemax_rows(scores, topk), (64, 700)) for topk in (16, 10_000))
    assert torch.equal(fast, official)
    assert (fast > 0).sum(-1).min() > 100 or spread > 0.005


@pytest.mark.parametrize("n_keys", [1, 2, 63, 64, 65, 129])
def test_sparsemax_rows_small_and_unaligned_widths(n_keys: int) -> None:
    g = torch.Generator().manual_seed(n_keys)
    scores = torch.randn(9, n_keys, generator=g) * 2
    truth = _sparsemax_bisection(scores)
    for topk in (1, 4, 10_000):
        assert (_dense(sparsemax_rows(scores, topk), (9, n_keys)) - truth).abs().max().item() < 1e-5


def test_sparsemax_rows_with_ties() -> None:
    """Scores on a coarse grid: many keys tie with the row maximum and at the threshold itself."""
    g = torch.Generator().manual_seed(3)
    scores = torch.randint(0, 8, (40, 500), generator=g).float() * 0.125
    scores[:5] = 0.5  # constant rows: every key in the support, weight 1/P each
    dense = _dense(sparsemax_rows(scores, 16), tuple(scores.shape))
    assert (dense - _sparsemax_bisection(scores)).abs().max().item() < 1e-6
    assert torch.allclose(dense[:5], torch.full((5, 500), 1 / 500, dtype=torch.float64))


def test_uncertified_rows_go_to_the_official_solver(monkeypatch: pytest.MonkeyPatch) -> None:
    """A negative slack makes the fast path's bounds exclude support members; the check on τ must catch
    every such row and hand it to the official solver, so the result stays exact."""
    g = torch.Generator().manual_seed(11)
    scores = torch.randn(30, 400, generator=g) * 0.5
    truth = _sparsemax_bisection(scores)
    monkeypatch.setattr(sparsemax, "SLACK", -0.002)  # most rows fail the check, a few pass: both mixed
    assert (_dense(sparsemax_rows(scores, 8), (30, 400)) - truth).abs().max().item() < 1e-5


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_chunked_equals_unchunked(dtype: torch.dtype) -> None:
    """Chunks of query rows see every key, so only score rounding may differ. In float32 a 1-row chunk
    goes through BLAS matrix-vector code whose rounding differs (~2e-6 on the scores), hence float64
    for chunk 1 and float32 from 7 rows up."""
    g = torch.Generator().manual_seed(5)
    q, k, v = (torch.randn(2, 150, 8, generator=g, dtype=dtype), torch.randn(2, 8, 150, generator=g, dtype=dtype),
               torch.randn(2, 150, 6, generator=g, dtype=dtype))
    whole = sparsemax_attention(q, k, v, topk=16, chunk_size=150)
    chunks, tol = ((1, 7, 64, None), 1e-12) if dtype == torch.float64 else ((7, 64, None), 1e-6)
    for chunk in chunks:
        part = sparsemax_attention(q, k, v, topk=16, chunk_size=chunk)
        assert (part - whole).abs().max().item() <= tol, chunk
    # against a dense reference built from the independent solver
    dense = _sparsemax_bisection(torch.bmm(q, k))
    assert (whole.double() - dense @ v.double()).abs().max().item() < 1e-5


def test_gradient_matches_dense_closed_form() -> None:
    g = torch.Generator().manual_seed(9)
    q = torch.randn(1, 40, 4, generator=g, dtype=torch.float64, requires_grad=True)
    k = torch.randn(1, 4, 40, generator=g, dtype=torch.float64)
    v = torch.randn(1, 40, 3, generator=g, dtype=torch.float64)
    (sparsemax_attention(q, k, v, topk=4, chunk_size=13) ** 2).sum().backward()
    ours = q.grad.clone()
    q.grad = None
    scores = torch.bmm(q, k)
    z_sorted = scores.sort(-1, descending=True).values
    tau = torch.stack([_tau_closed_form(row) for row in z_sorted[0]])[None, :, None]
    ((((scores - tau).clamp(min=0)) @ v) ** 2).sum().backward()
    assert torch.allclose(ours, q.grad, atol=1e-9)


def _tau_closed_form(u: torch.Tensor) -> torch.Tensor:
    csum = u.cumsum(0) - 1
    support = int((torch.arange(1, len(u) + 1, dtype=u.dtype) * u > csum).sum())
    return csum[support - 1] / support


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_keys_and_shapes_match_official_lists(shared: Path, scale: int) -> None:
    keys = json.loads((shared / "conformance/hspan" / f"keys_x{scale}.json").read_text())
    with torch.device("meta"):
        model = HSPAN(HSPANConfig(scale=scale))
    ours = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    assert ours == keys
    fake = {k: torch.empty(shape, device="meta") for k, shape in keys}
    assert detect(fake) == {"scale": scale, "n_resgroups": 10, "n_resblocks": 4, "n_feats": 192, "reduction": 2}


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_parameter_counts(shared: Path, scale: int) -> None:
    counts = json.loads((shared / "conformance/hspan/param_counts.json").read_text())[f"x{scale}"]
    with torch.device("meta"):
        model = HSPAN(HSPANConfig(scale=scale))
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert total == counts["total_parameters"]
    # `a` is frozen here (it never reaches forward), so trainable = the spec's "used in forward" column
    assert trainable == counts["effective_parameters_used_in_forward"] == counts["trainable_parameters"] - 1
    from attnsr.models import get_entry
    assert get_entry("hspan").official_params[scale] == trainable == counts["total_parameters"] - 25


def test_foreign_state_dicts_are_not_claimed() -> None:
    assert detect({"conv.weight": torch.zeros(3, 3, 3, 3)}) is None
    rcan_like = {"sub_mean.weight": torch.zeros(3, 3, 1, 1), "add_mean.weight": torch.zeros(3, 3, 1, 1),
                 "head.0.weight": torch.zeros(64, 3, 3, 3), "body.0.body.0.body.0.weight": torch.zeros(64, 64, 3, 3),
                 "tail.0.0.weight": torch.zeros(256, 64, 3, 3)}
    assert detect(rcan_like) is None


def test_registry_build_and_odd_size_shapes() -> None:
    model = create("hspan", scale=3, n_resgroups=1, n_resblocks=1, n_feats=8).eval()
    with torch.no_grad():
        assert model(torch.rand(2, 3, 7, 5)).shape == (2, 3, 21, 15)
    assert not model.a.requires_grad and model.a.item() == 0.0
