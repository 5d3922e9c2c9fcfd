"""NRQM (Ma et al.): model file in pyiqa's converted layout, forest evaluation against hand-computed
trees, feature components against independent truth, and PI with a model file.

No real NRQM_model.mat is available offline, so the model files here are synthetic (written with
scipy.io.savemat in the converted layout) and no MATLAB/pyiqa reference score is checked.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attnsr.errors import ConfigError, ImageError
from attnsr.image.color import rgb_to_y
from attnsr.metrics._steerable import steerable_pyramid
from attnsr.metrics.niqe import niqe
from attnsr.metrics.nrqm import (
    _GGD_RATIOS,
    _GGD_SHAPES,
    FEATURE_DIMS,
    MIN_SIDE,
    ORIENTATION_GROUPS,
    block_dct,
    forest_predict,
    gaussian_pyramid,
    ggd_shape,
    load_nrqm_model,
    nrqm,
    nrqm_features,
    patch_singular_values,
    pyiqa_ssim,
    shape_from_ratio,
)
from attnsr.metrics.pi import PIRM_SHAVE, perceptual_index, pi_from_scores
from attnsr.metrics.ssim import ssim_map

scipy_io = pytest.importorskip("scipy.io")
scipy_fft = pytest.importorskip("scipy.fft")
scipy_stats = pytest.importorskip("scipy.stats")
scipy_ndimage = pytest.importorskip("scipy.ndimage")

# ------------------------------------------------------------------------------- synthetic model files


def forest(left, right, upper, avnode, mbest) -> dict[str, np.ndarray]:
    """A regRF struct as randomforest-matlab's regRF_train saves it (field order matters to pyiqa)."""
    left = np.asarray(left, dtype=np.int32).reshape(len(left), -1)
    nodes, trees = left.shape

    def as2d(a, t):
        return np.asarray(a, dtype=t).reshape(nodes, trees)

    return {"lDau": left, "rDau": as2d(right, np.int32), "nodestatus": np.where(left > 0, -3, -1).astype(np.int32),
            "nrnodes": np.array([[nodes]], float), "upper": as2d(upper, float), "avnode": as2d(avnode, float),
            "mbest": as2d(mbest, np.int32), "ndtree": np.full((1, trees), nodes, np.int32),
            "ntree": np.array([[trees]], float)}


def leaf(value: float) -> dict[str, np.ndarray]:
    return forest([[0]], [[0]], [[0.0]], [[value]], [[0]])


def hand_tree(feature_a: int, t: float, feature_b: int, u: float) -> dict[str, np.ndarray]:
    """Tree 1: x[a] <= t -> 1.0; else x[b] <= u -> 2.0 else 3.0 (1-based features). Tree 2: leaf 10."""
    left = [[2, 0], [0, 0], [4, 0], [0, 0], [0, 0]]
    right = [[3, 0], [0, 0], [5, 0], [0, 0], [0, 0]]
    upper = [[t, 0], [0, 0], [u, 0], [0, 0], [0, 0]]
    avnode = [[0, 10], [1, 0], [0, 0], [2, 0], [3, 0]]
    mbest = [[feature_a, 0], [0, 0], [feature_b, 0], [0, 0], [0, 0]]
    return forest(left, right, upper, avnode, mbest)


def write_model(path: Path, forests, linear, *, rename: bool = False) -> Path:
    cell = np.empty((1, 3), dtype=object)
    for i, f in enumerate(forests):
        cell[0, i] = {f"field{j}": v for j, v in enumerate(f.values())} if rename else f
    scipy_io.savemat(path, {"model": {"linear": np.asarray(linear, float).reshape(4, 1), "rf": cell}})
    return path


@pytest.fixture(scope="module")
def image() -> np.ndarray:
    """A 64x64 8-bit-level Y image with structure and texture."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:64, 0:64] / 64.0
    base = 0.5 + 0.3 * np.sin(6 * xx + 3 * yy) * np.cos(4 * yy)
    return np.round(np.clip(base + 0.08 * rng.normal(size=(64, 64)), 0, 1) * 255) / 255


@pytest.fixture(scope="module")
def features(image):
    return nrqm_features(image)


# ----------------------------------------------------------------------------------- forests, model


def test_hand_built_forest_known_values(tmp_path: Path) -> None:
    path = write_model(tmp_path / "m.mat", [hand_tree(2, 0.5, 1, -1.0), leaf(0), leaf(0)], [0, 1, 0, 0])
    f = load_nrqm_model(path).forests[0]
    x = np.zeros(18)
    x[1] = 0.5  # == threshold goes left: (1 + 10) / 2
    assert forest_predict(f, x) == 5.5
    x[1], x[0] = 0.7, -1.0  # right, then x[0] <= -1: (2 + 10) / 2
    assert forest_predict(f, x) == 6.0
    x[0] = 0.0  # right, right: (3 + 10) / 2
    assert forest_predict(f, x) == 6.5
    with pytest.raises(ValueError, match="18 features"):
        forest_predict(f, np.zeros(17))


def _random_tree(rng: np.random.Generator, nodes: int, n_features: int) -> list[tuple]:
    """Random valid regRF tree: rows (left, right, upper, avnode, mbest), daughters after their parent."""
    rows = [[0, 0, 0.0, float(rng.normal()), 0]]
    k = 0
    while k < len(rows) and len(rows) + 2 <= nodes:
        if rng.random() < 0.7:
            rows[k][:3] = [len(rows) + 1, len(rows) + 2, float(rng.normal())]
            rows[k][4] = int(rng.integers(1, n_features + 1))
            rows += [[0, 0, 0.0, float(rng.normal()), 0], [0, 0, 0.0, float(rng.normal()), 0]]
        k += 1
    return [tuple(r) for r in rows] + [(0, 0, 0.0, 0.0, 0)] * (nodes - len(rows))


def _walk(tree: list[tuple], x: np.ndarray) -> float:
    node = 0
    while tree[node][0] != 0:
        left, right, upper, _, feat = tree[node]
        node = (left if x[feat - 1] <= upper else right) - 1
    return tree[node][3]


def test_random_forest_matches_recursive_walk(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    trees = [_random_tree(rng, 15, 45) for _ in range(6)]
    arr = np.array(trees, dtype=float).transpose(1, 0, 2)  # (nodes, trees, 5)
    f = forest(*(arr[..., i] for i in range(5)))
    model = load_nrqm_model(write_model(tmp_path / "m.mat", [leaf(0), f, leaf(0)], [0, 0, 1, 0]))
    for _ in range(20):
        x = rng.normal(size=45)
        assert forest_predict(model.forests[1], x) == pytest.approx(np.mean([_walk(t, x) for t in trees]), abs=1e-12)


def test_loader_reads_names_or_pyiqa_positions(tmp_path: Path) -> None:
    forests = [hand_tree(3, 0.1, 4, 0.2), leaf(2.0), leaf(-1.5)]
    named = load_nrqm_model(write_model(tmp_path / "a.mat", forests, [1, 2, 3, 4]))
    positional = load_nrqm_model(write_model(tmp_path / "b.mat", forests, [1, 2, 3, 4], rename=True))
    for m in (named, positional):
        assert (m.intercept, m.weights) == (1.0, (2.0, 3.0, 4.0))
        assert m.forests[0].left.shape == (5, 2) and m.forests[0].feature[2, 0] == 4
        assert m.forests[0].threshold[0, 0] == 0.1 and m.forests[2].value[0, 0] == -1.5
        assert [f.n_features for f in m.forests] == list(FEATURE_DIMS)


def _model_dict(**overrides) -> dict:
    cell = np.empty((1, 3), dtype=object)
    for i in range(3):
        cell[0, i] = hand_tree(2, 0.5, 1, -1.0)
    model = {"linear": np.ones((4, 1)), "rf": cell}
    model.update(overrides)
    return model


@pytest.mark.parametrize(("mutate", "message"), [
    (lambda m: {"not_model": m}, "missing key 'model'"),
    (lambda m: {"model": {"rf": m["rf"]}}, r"missing key model\.linear"),
    (lambda m: {"model": {**m, "linear": np.ones((3, 1))}}, r"model\.linear: expected 4"),
    (lambda m: {"model": {**m, "rf": m["rf"][:, :2]}}, r"model\.rf: expected a cell array of 3"),
])
def test_loader_errors_name_the_key(tmp_path: Path, mutate, message) -> None:
    path = tmp_path / "bad.mat"
    scipy_io.savemat(path, mutate(_model_dict()))
    with pytest.raises(ConfigError, match=message) as err:
        load_nrqm_model(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("upper", None, r"missing key model\.rf\{2\}\.upper"),
    ("avnode", np.zeros((4, 2)), r"model\.rf\{2\}\.avnode: expected a numeric \(nodes, trees\)"),
    ("mbest", np.array([[46, 0], [0, 0], [1, 0], [0, 0], [0, 0]], np.int32), r"model\.rf\{2\}\.mbest: .*1\.\.45"),
    ("lDau", np.array([[2, 0], [0, 0], [1, 0], [0, 0], [0, 0]], np.int32), r"model\.rf\{2\}\.lDau/rDau"),
])
def test_loader_rejects_bad_forest_arrays(tmp_path: Path, field, value, message) -> None:
    bad = hand_tree(2, 0.5, 1, -1.0)
    if value is None:
        del bad[field]
    else:
        bad[field] = value
    path = write_model(tmp_path / "bad.mat", [hand_tree(2, 0.5, 1, -1.0), bad, leaf(0)], [0, 0, 0, 0])
    with pytest.raises(ConfigError, match=message):
        load_nrqm_model(path)


def test_loader_rejects_non_mat_and_missing_files(tmp_path: Path) -> None:
    junk = tmp_path / "NRQM_model.mat"
    junk.write_bytes(b"not really a mat file")
    with pytest.raises(ConfigError, match="NRQM_model.mat: not a MATLAB v5 .mat file"):
        load_nrqm_model(junk)
    with pytest.raises(ConfigError, match="no such file .*gone.mat"):
        load_nrqm_model(tmp_path / "gone.mat")


# ---------------------------------------------------------------------------------------- scoring


def test_nrqm_is_the_linear_combination_of_the_three_forests(tmp_path: Path, image) -> None:
    path = write_model(tmp_path / "m.mat", [leaf(4.0), leaf(6.0), leaf(8.0)], [0.5, 0.25, 0.5, -0.125])
    assert nrqm(image, load_nrqm_model(path)) == 0.5 + 1.0 + 3.0 - 1.0


def test_each_feature_group_feeds_its_own_forest(tmp_path: Path, image, features) -> None:
    # forest i splits on feature k of group i exactly at the image's value (<= goes left, leaf 1)
    picks = (4, 30, 7)
    at = [hand_tree(k + 1, float(g[k]), 1, -1e9) for k, g in zip(picks, features.groups)]
    below = [hand_tree(k + 1, float(np.nextafter(g[k], -np.inf)), 1, -1e9) for k, g in zip(picks, features.groups)]
    weights = [0.0, 1.0, 100.0, 10000.0]
    left = load_nrqm_model(write_model(tmp_path / "l.mat", at, weights))
    right = load_nrqm_model(write_model(tmp_path / "r.mat", [below[0], at[1], below[2]], weights))
    assert nrqm(image, left) == pytest.approx(5.5 * 10101)  # (1 + 10) / 2 from every forest
    assert nrqm(image, right) == pytest.approx(6.5 + 550 + 65000)  # (3 + 10) / 2 where it goes right


# --------------------------------------------------------------------------------------- features


def test_feature_shapes_determinism_and_input_forms(image, features) -> None:
    assert [g.shape for g in features.groups] == [(18,), (45,), (75,)]
    assert all(np.isfinite(g).all() for g in features.groups)
    for again in (nrqm_features(image.copy()), nrqm_features(torch.from_numpy(image)[None, None])):
        assert all(np.array_equal(a, b) for a, b in zip(features.groups, again.groups))
    shapes, ssims = features.gsm[:18], features.gsm[18:]
    assert ((0.03 <= shapes) & (shapes <= 10)).all() and ((0 <= ssims) & (ssims <= 1)).all()
    with pytest.raises(ImageError, match=f"at least {MIN_SIDE}x{MIN_SIDE}"):
        nrqm_features(image[:56])


def test_gsm_shapes_are_invariant_to_contrast_scaling(image, features) -> None:
    # divisive normalisation removes the scale of the bands; the GGD shapes only see normalised ones
    half = nrqm_features(image * 0.5)
    np.testing.assert_allclose(half.gsm[:18], features.gsm[:18], atol=1e-3 + 1e-12)


def test_steerable_pyramid_is_a_tight_frame() -> None:
    rng = np.random.default_rng(1)
    for h, w in ((64, 64), (64, 48)):
        x = rng.normal(size=(h, w))
        p = steerable_pyramid(x, height=2, nbands=6)
        assert p.bands[0][0].shape == (h, w) and p.bands[1][0].shape == (h // 2, w // 2)
        assert p.lowpass.shape == (h // 4, w // 4)
        # Parseval: real parts of the analytic bands + residuals; an array 2^-l of the image size weighs 4^-l
        energy = (p.highpass**2).sum() + sum((b.real**2).sum() for b in p.bands[0])
        energy += sum((b.real**2).sum() for b in p.bands[1]) / 4 + (p.lowpass**2).sum() / 16
        assert energy == pytest.approx((x**2).sum(), rel=1e-4)  # lookup-table interpolation error


def test_steerable_pyramid_orientation_tuning() -> None:
    yy, xx = np.mgrid[0:64, 0:64]
    for img, band in ((np.cos(2 * np.pi * 12 * xx / 64), 0), (np.cos(2 * np.pi * 12 * yy / 64), 3)):
        energy = [(b.real**2).sum() for b in steerable_pyramid(img, height=2, nbands=6).bands[0]]
        assert int(np.argmax(energy)) == band


@pytest.mark.parametrize("beta", [0.8, 1.0, 2.0, 3.0])
def test_ggd_shape_recovers_the_generating_shape(beta: float) -> None:
    x = scipy_stats.gennorm.rvs(beta, size=200_000, random_state=np.random.default_rng(7)) * 5 + 2
    assert float(ggd_shape(x)) == pytest.approx(beta, rel=0.03)


def test_ggd_grid_lookup_equals_argmin() -> None:
    assert np.all(np.diff(_GGD_RATIOS) < 0)
    rho = np.concatenate([np.random.default_rng(2).uniform(1.2, 6, 500), [1e9, 0.5, _GGD_RATIOS[100]],
                          [(_GGD_RATIOS[200] + _GGD_RATIOS[201]) / 2]])  # a tie keeps the first, like argmin
    brute = _GGD_SHAPES[np.abs(rho[:, None] - _GGD_RATIOS[None]).argmin(axis=1)]
    np.testing.assert_array_equal(shape_from_ratio(rho), brute)


def test_block_dct_matches_scipy_on_padded_blocks() -> None:
    img = np.random.default_rng(4).random((10, 8))
    coef = block_dct(img)
    assert coef.shape == (4, 3, 7, 7)  # ceil(10/3) x ceil(8/3) blocks
    padded = np.pad(img, ((3, 3), (2, 3)))  # 3*4+4-10 = 6 rows split 3/3; 3*3+4-8 = 5 cols split 2/3
    for i in range(4):
        for j in range(3):
            ref = scipy_fft.dctn(padded[3 * i : 3 * i + 7, 3 * j : 3 * j + 7], type=2, norm="ortho")
            np.testing.assert_allclose(coef[i, j], ref, atol=1e-12)


def test_orientation_groups_partition_ac_coefficients() -> None:
    groups = [set(g.tolist()) for g in ORIENTATION_GROUPS]
    assert [len(g) for g in groups] == [16, 16, 16] and not any(0 in g for g in groups)
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    assert groups[2] == {(k % 7) * 7 + k // 7 for k in groups[0]}  # vertical = transposed horizontal


def test_gaussian_pyramid_matches_scipy_filter() -> None:
    img = np.random.default_rng(5).random((21, 18))
    t = np.exp(-np.array([1.0, 0.0, 1.0]) / 0.5)
    k = np.outer(t, t) / np.outer(t, t).sum()  # fspecial('gaussian', 3, 0.5)
    pyr = gaussian_pyramid(img)
    ref = scipy_ndimage.correlate(img, k, mode="constant")[1::2, 1::2]
    np.testing.assert_allclose(pyr[1], ref, atol=1e-14)
    assert [p.shape for p in pyr] == [(21, 18), (10, 9), (5, 4)]


def test_patch_singular_values_keep_the_energy() -> None:
    img = np.random.default_rng(6).random((23, 31))  # 5 x 7 patches after zero padding
    s = patch_singular_values(img)
    assert s.shape == (25,) and np.all(np.diff(s) <= 1e-12) and s[-1] >= 0
    assert (s**2).sum() == pytest.approx((img**2).sum(), rel=1e-12)  # Frobenius norm, padding adds nothing
    flat = patch_singular_values(np.full((80, 80), 0.25))  # 256 identical patches: rank one
    assert flat[0] == pytest.approx(0.25 * np.sqrt(256 * 25)) and np.abs(flat[1:]).max() < 1e-12
    few = patch_singular_values(np.random.default_rng(0).random((10, 10)))  # 4 patches -> 4 values
    assert np.count_nonzero(few) == 4


def test_pyiqa_ssim_agrees_with_attnsr_ssim_when_contrast_term_is_positive() -> None:
    rng = np.random.default_rng(8)
    a = np.round(rng.random((40, 40)) * 200 + 20)
    b = np.clip(a + np.round(rng.normal(0, 6, a.shape)), 0, 255)
    assert pyiqa_ssim(a / 255, a / 255) == 1.0
    assert pyiqa_ssim(a / 255, b / 255) == pytest.approx(ssim_map(a, b).mean(), abs=1e-12)
    assert pyiqa_ssim(a / 255, (255 - a) / 255) >= 0  # anti-correlated: structure term clipped at 0


# ------------------------------------------------------------------------------------ PI with a file


@pytest.fixture(scope="module")
def baboon(shared) -> torch.Tensor:
    arr = np.array(Image.open(shared / "metric-data" / "baboon.png").convert("RGB"))[:200, :200]
    return torch.from_numpy(arr).permute(2, 0, 1)[None].float() / 255.0


def test_perceptual_index_with_model_file(tmp_path: Path, baboon: torch.Tensor) -> None:
    split = hand_tree(1, 0.9, 2, 1.5)  # depends on the image's first two DCT features
    path = write_model(tmp_path / "NRQM_model.mat", [split, leaf(7.0), leaf(3.0)], [1.0, 0.5, 0.25, 0.5])
    [res] = perceptual_index(baboon, shave=PIRM_SHAVE, nrqm_model=path)
    y = (torch.round(rgb_to_y(baboon.double()) * 255) / 255)[..., 4:-4, 4:-4]
    model = load_nrqm_model(path)
    feats = nrqm_features(y)
    by_hand = 1.0 + 0.5 * forest_predict(model.forests[0], feats.dct) + 0.25 * 7.0 + 0.5 * 3.0
    assert res.available and res.ma == pytest.approx(by_hand, abs=1e-12)
    assert res.ma == pytest.approx(nrqm(y, model), abs=1e-12)
    assert res.niqe == pytest.approx(float(niqe(baboon, crop_border=4)[0]), abs=1e-9)
    assert res.pi == pytest.approx(pi_from_scores(res.ma, res.niqe)) == pytest.approx((10 - res.ma + res.niqe) / 2)


def test_evaluation_loads_the_model_once_and_scores_pi(tmp_path: Path, baboon: torch.Tensor) -> None:
    from attnsr.eval import MetricOptions, prepare_metrics

    path = write_model(tmp_path / "m.mat", [leaf(6.0), leaf(0.0), leaf(0.0)], [0.0, 1.0, 0.0, 0.0])
    scorer = prepare_metrics(["pi"], MetricOptions(nrqm_model=path, pi_shave=0))["pi"]
    assert scorer.reason is None
    path.unlink()  # read at preparation: scoring no longer needs the file
    sr = baboon[0, :, :192, :192]
    assert scorer.fn(sr, sr, 0) == pytest.approx((10 - 6.0 + float(niqe(sr[None])[0])) / 2)
    (tmp_path / "bad.mat").write_bytes(b"\0")
    with pytest.raises(ConfigError, match="bad.mat"):
        prepare_metrics(["pi"], MetricOptions(nrqm_model=tmp_path / "bad.mat"))
