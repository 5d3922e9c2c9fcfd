"""Ma et al.'s no-reference SR quality score, "NRQM" (the "Ma" of PIRM's perceptual index).

C. Ma, C.-Y. Yang, X. Yang, M.-H. Yang, "Learning a no-reference quality metric for single-image
super-resolution", CVIU 158 (2017); MATLAB release github.com/chaoma99/sr-metric, whose
``quality_predict.m`` scores ``[1 s1 s2 s3] * model.linear`` with ``s_i = regRF_predict(f_i, model.rf{i})``:
three regression forests (randomforest-matlab ``regRF``), one per feature group, combined linearly
(``robustfit``). Higher is better, roughly 0-10.

Feature groups of the luminance image (lengths 18, 45, 75):

1. **DCT** -- at 3 scales (the image and two levels of a Gaussian pyramid: 3x3, sigma 0.5, zero border,
   every second pixel from the second): 7x7 DCT-II of blocks on a 3-pixel grid (zero padding split
   top/bottom, left/right); per block the GGD shape of the 48 AC coefficients, their coefficient of
   variation of magnitudes, and the variance of that coefficient over three 16-coefficient orientation
   groups; pooled as the mean of the lowest 10 % (+1) of the shapes, the mean of the highest 10 % of the
   other two, and the mean of all three.
2. **GSM** -- real parts of a complex steerable pyramid (2 scales x 6 orientations), each coefficient
   divided by the Mahalanobis norm of its neighbourhood (3x3 window, parent, the 5 other orientations;
   uncentred second moments over the band; the quadratic form divided by 10, or 9 without a parent,
   leaving the siblings uncounted) with a 16/8-pixel guard band removed; GGD shapes per band (12) and
   per orientation over both scales (6); SSIM of each band (resized to the image) against the
   pyramid's high-pass residual (12) and between the finer scale's orientation pairs (15).
3. **PCA** -- the 25 singular values of the 5x5 non-overlapping patches (zero padded bottom/right) at
   the 3 pyramid scales.

The MATLAB feature code was not available to read here (only ``quality_predict.m`` and the training
script), so the feature pipeline follows the PyTorch port in IQA-PyTorch (pyiqa,
``pyiqa/archs/nrqm_arch.py``), which aims to reproduce the MATLAB scores, including its quirks (each marked
below). No score has been compared with MATLAB or pyiqa: neither the model file nor reference values are
available offline. Input convention: pyiqa takes the Y channel on the 0-255 scale, divides it by 255 for
the DCT and PCA groups and keeps 0-255 for the GSM group, whose SSIM scales its inputs by 255 again and
rounds them (L = 255). attnsr passes Y in [0, 1] (rounded to 8-bit levels by :mod:`attnsr.metrics.pi`)
and multiplies by 255 where pyiqa works on 0-255. attnsr computes in float64, pyiqa mostly in float32.

The model file is pyiqa's converted ``NRQM_model.mat`` (MATLAB v5, read with ``scipy.io.loadmat``):
a struct ``model`` with ``linear`` (4x1: intercept, then the weights of the DCT, GSM and PCA forests)
and ``rf`` (1x3 cell of regRF structs, in that order). Each regRF struct's arrays are (nrnodes, ntree):
``lDau``/``rDau`` (1-based daughter node, 0 at a leaf), ``upper`` (split threshold: go left when
``x[mbest] <= upper``), ``avnode`` (node prediction) and ``mbest`` (1-based split feature). These are
the names randomforest-matlab's ``regRF_train`` saves; pyiqa reads the fields by position (1, 2, 5, 6, 7
in regRF's order), so a struct without these names is read by position too. A forest predicts the mean
over its trees. Nothing is downloaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from attnsr.errors import ConfigError, ImageError
from attnsr.image.resize import imresize
from attnsr.metrics._steerable import steerable_pyramid
from attnsr.metrics.ssim import filter_valid, gaussian_window_1d
from attnsr.ops.dct import dct_matrix

#: feature lengths of the DCT, GSM and PCA groups (the forests' inputs, in model.rf order)
FEATURE_DIMS: tuple[int, int, int] = (18, 45, 75)
#: smallest image side: the coarser GSM scale keeps ceil(side/2) - 18 pixels and SSIM needs 11
MIN_SIDE = 57
#: the regRF fields NRQM needs and their positions in regRF's struct (what pyiqa indexes)
FOREST_FIELDS: tuple[tuple[str, int], ...] = (("lDau", 0), ("rDau", 1), ("upper", 4), ("avnode", 5), ("mbest", 6))

_GGD_SHAPES = 0.03 + 0.001 * np.arange(9971)  # pyiqa's GGD shape grid 0.03:0.001:10
_GGD_EPS = 1e-7
_BLOCK, _STEP, _PATCH = 7, 3, 5
_NBANDS, _GSM_SCALES, _GUARD = 6, 2, 16


@dataclass(frozen=True, eq=False)
class RegressionForest:
    """One regRF forest; every array is (nodes, trees), read-only. ``left``/``right``: 1-based daughter
    (0 = leaf); go left when ``x[feature - 1] <= threshold``; ``value``: node prediction."""

    left: np.ndarray
    right: np.ndarray
    threshold: np.ndarray
    value: np.ndarray
    feature: np.ndarray
    n_features: int


@dataclass(frozen=True, eq=False)
class NrqmModel:
    """Ma's model: the DCT, GSM and PCA forests and ``score = intercept + weights . (s1, s2, s3)``."""

    forests: tuple[RegressionForest, RegressionForest, RegressionForest]
    intercept: float
    weights: tuple[float, float, float]
    path: Path


@dataclass(frozen=True, eq=False)
class NrqmFeatures:
    """The three feature vectors of one image, float64: ``dct`` (18,), ``gsm`` (45,), ``pca`` (75,)."""

    dct: np.ndarray
    gsm: np.ndarray
    pca: np.ndarray

    @property
    def groups(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self.dct, self.gsm, self.pca


# ----------------------------------------------------------------------------------------- model file


def _field(struct: np.ndarray, name: str, where: str, path: Path) -> np.ndarray:
    names = struct.dtype.names or ()
    if name not in names:
        raise ConfigError(f"{path}: missing key {where}.{name} (found: {', '.join(names) or 'none'})")
    return struct[name].reshape(-1)[0]


def _as_struct(value: object, where: str, path: Path) -> np.ndarray:
    if not isinstance(value, np.ndarray) or value.dtype.names is None or value.size != 1:
        raise ConfigError(f"{path}: {where} is not a 1x1 MATLAB struct")
    return value


def _forest_arrays(struct: np.ndarray, where: str, path: Path) -> list[np.ndarray]:
    """The five arrays by regRF name, or by pyiqa's positions when none of the names is there."""
    names = struct.dtype.names or ()
    record = struct.reshape(-1)[0]
    if not any(name in names for name, _ in FOREST_FIELDS) and len(names) > max(p for _, p in FOREST_FIELDS):
        return [np.asarray(record[pos]) for _, pos in FOREST_FIELDS]
    return [np.asarray(_field(struct, name, where, path)) for name, _ in FOREST_FIELDS]


def _check_forest(arrays: list[np.ndarray], n_features: int, where: str, path: Path) -> RegressionForest:
    shape = arrays[0].shape
    for (name, _), a in zip(FOREST_FIELDS, arrays):
        if a.ndim != 2 or a.shape != shape or a.size == 0 or a.dtype.kind not in "iuf":
            raise ConfigError(f"{path}: {where}.{name}: expected a numeric (nodes, trees) array like lDau "
                              f"{shape}, got {a.dtype} {a.shape}")
        if not np.isfinite(a).all():
            raise ConfigError(f"{path}: {where}.{name}: non-finite values")
    left, right, threshold, value, feature = (a.astype(np.float64) for a in arrays)
    nodes = shape[0]
    for name, a in (("lDau", left), ("rDau", right), ("mbest", feature)):
        if (a != np.round(a)).any():
            raise ConfigError(f"{path}: {where}.{name}: expected integer node/feature indices")
    own = np.arange(1, nodes + 1, dtype=np.float64)[:, None]
    inner = left > 0
    if (inner != (right > 0)).any() or (left < 0).any() or (right < 0).any():
        raise ConfigError(f"{path}: {where}.lDau/rDau: a node must have two daughters or none")
    # randomForest numbers daughters after their parent, which also guarantees every descent ends
    if (inner & ((left <= own) | (right <= own) | (left > nodes) | (right > nodes))).any():
        raise ConfigError(f"{path}: {where}.lDau/rDau: daughter indices must lie in (node, {nodes}]")
    if (inner & ((feature < 1) | (feature > n_features))).any():
        raise ConfigError(f"{path}: {where}.mbest: split features must lie in 1..{n_features}")
    arrays_out = [left.astype(np.int64), right.astype(np.int64), threshold, value, feature.astype(np.int64)]
    for a in arrays_out:
        a.setflags(write=False)
    left_out, right_out, threshold_out, value_out, feature_out = arrays_out
    return RegressionForest(left_out, right_out, threshold_out, value_out, feature_out, n_features=n_features)


def _read_mat(path: Path) -> dict[str, object]:
    try:
        import scipy.io
    except ImportError:
        raise ConfigError(f"{path}: reading an NRQM model needs scipy (pip install 'attnsr[nrqm]')") from None
    try:
        return scipy.io.loadmat(str(path))
    except Exception as exc:  # noqa: BLE001 -- MatReadError, ValueError, NotImplementedError (v7.3), ...
        raise ConfigError(f"{path}: not a MATLAB v5 .mat file scipy can read ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else 'no detail'})") from None


def load_nrqm_model(path: str | Path) -> NrqmModel:
    """Read and validate pyiqa's converted ``NRQM_model.mat`` (layout in the module docstring).

    Every key, shape and index is checked; problems raise :class:`ConfigError` naming the file and key.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--nrqm-model: no such file {path}")
    mat = _read_mat(path)
    if "model" not in mat:
        found = ", ".join(k for k in mat if not k.startswith("__")) or "none"
        raise ConfigError(f"{path}: missing key 'model' (found: {found})")
    model = _as_struct(mat["model"], "model", path)
    linear = np.asarray(_field(model, "linear", "model", path))
    if linear.dtype.kind not in "iuf" or linear.size != 4 or not np.isfinite(linear).all():
        raise ConfigError(f"{path}: model.linear: expected 4 finite numbers (intercept + 3 weights), "
                          f"got {linear.dtype} {linear.shape}")
    rf = np.asarray(_field(model, "rf", "model", path))
    if rf.dtype != object or rf.size != 3:
        raise ConfigError(f"{path}: model.rf: expected a cell array of 3 forests, got {rf.dtype} {rf.shape}")
    forests = []
    for i, (cell, dim) in enumerate(zip(rf.reshape(-1, order="F"), FEATURE_DIMS)):
        where = f"model.rf{{{i + 1}}}"
        forests.append(_check_forest(_forest_arrays(_as_struct(cell, where, path), where, path), dim, where, path))
    lin = linear.astype(np.float64).reshape(-1)
    return NrqmModel(forests=(forests[0], forests[1], forests[2]), intercept=float(lin[0]),
                     weights=(float(lin[1]), float(lin[2]), float(lin[3])), path=path)


def forest_predict(forest: RegressionForest, x: np.ndarray) -> float:
    """regRF prediction for one feature vector: every tree descended at once, mean of the leaf values."""
    x = np.asarray(x, dtype=np.float64)
    if x.shape != (forest.n_features,):
        raise ImageError(f"forest_predict: expected {forest.n_features} features, got shape {x.shape}")
    trees = np.arange(forest.left.shape[1])
    node = np.zeros_like(trees)
    for _ in range(forest.left.shape[0]):  # daughters follow their parent, so this bounds the depth
        left = forest.left[node, trees]
        inner = left > 0
        if not inner.any():
            break
        col = np.where(inner, forest.feature[node, trees] - 1, 0)
        go_left = x[col] <= forest.threshold[node, trees]
        node = np.where(inner, np.where(go_left, left, forest.right[node, trees]) - 1, node)
    return float(forest.value[node, trees].mean())


# ------------------------------------------------------------------------------------ statistics


def _ggd_ratio_table() -> np.ndarray:
    """Gamma(1/g) Gamma(3/g) / Gamma(2/g)^2 on the shape grid: strictly decreasing in g."""
    lg = np.vectorize(math.lgamma)
    g = _GGD_SHAPES
    return np.exp(lg(1 / g) + lg(3 / g) - 2 * lg(2 / g))


_GGD_RATIOS = _ggd_ratio_table()


def shape_from_ratio(rho: np.ndarray) -> np.ndarray:
    """GGD shape on the grid whose ratio is nearest to ``rho`` (the first grid point on a tie, like
    pyiqa's argmin over the whole table), found by bisection in the decreasing ratio table."""
    rho = np.asarray(rho, dtype=np.float64)
    table = _GGD_RATIOS
    pos = np.searchsorted(-table, -rho)  # first grid index whose ratio is <= rho
    lo, hi = np.clip(pos - 1, 0, table.size - 1), np.clip(pos, 0, table.size - 1)
    take_hi = np.abs(table[hi] - rho) < np.abs(table[lo] - rho)
    return _GGD_SHAPES[np.where(take_hi, hi, lo)]


def ggd_shape(x: np.ndarray) -> np.ndarray:
    """Moment-matching GGD shape over the last axis: the ratio ``var / mean|x - mean|^2`` (unbiased
    variance, +1e-7 in the denominator) mapped to a shape by :func:`shape_from_ratio`."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=-1, keepdims=True)
    return shape_from_ratio(x.var(axis=-1, ddof=1) / (np.abs(x - mean).mean(axis=-1) ** 2 + _GGD_EPS))


def _abs_variation(x: np.ndarray, eps: float) -> np.ndarray:
    """Coefficient of variation of |x| over the last axis (unbiased std / (mean + eps))."""
    a = np.abs(x)
    return a.std(axis=-1, ddof=1) / (a.mean(axis=-1) + eps)


def _flat(rows: tuple[tuple[int, tuple[int, ...]], ...], transpose: bool = False) -> np.ndarray:
    idx = [(c * _BLOCK + r) if transpose else (r * _BLOCK + c) for r, cols in rows for c in cols]
    return np.array(idx, dtype=np.int64)


_HORIZONTAL = ((0, (1, 2, 3, 4, 5, 6)), (1, (2, 3, 4, 5, 6)), (2, (4, 5, 6)), (3, (5, 6)))
_DIAGONAL = ((1, (1,)), (2, (2, 3)), (3, (2, 3, 4)), (4, (3, 4, 5, 6)), (5, (4, 5, 6)), (6, (4, 5, 6)))
#: the three 16-coefficient orientation groups of a 7x7 DCT block (pyiqa's, flat row-major indices)
ORIENTATION_GROUPS = (_flat(_HORIZONTAL), _flat(_DIAGONAL), _flat(_HORIZONTAL, transpose=True))


# -------------------------------------------------------------------------------------- features


def gaussian_pyramid(img: np.ndarray, levels: int = 2) -> list[np.ndarray]:
    """``img`` and ``levels`` reductions: ``imfilter(x, fspecial('gaussian', 3, 0.5))`` (zero border),
    then ``x(2:2:end, 2:2:end)``."""
    t = np.exp(-np.array([1.0, 0.0, 1.0]) / (2 * 0.5**2))
    g = t / t.sum()
    out = [img]
    for _ in range(levels):
        p = np.pad(out[-1], 1)
        h, w = out[-1].shape
        rows = g[0] * p[:-2] + g[1] * p[1:-1] + g[2] * p[2:]
        blur = g[0] * rows[:, :-2] + g[1] * rows[:, 1:-1] + g[2] * rows[:, 2:]
        out.append(blur[1:h:2, 1:w:2])
    return out


def block_dct(img: np.ndarray) -> np.ndarray:
    """Orthonormal 7x7 DCT-II of blocks every 3 pixels -> (ceil(H/3), ceil(W/3), 7, 7), rows = vertical
    frequency. The zero padding to fit the grid is split, the extra pixel going bottom/right (pyiqa's
    'same' padding; MATLAB ``blkproc`` would put 2 pixels top/left and the rest bottom/right)."""
    pads = []
    for n in img.shape:
        total = (math.ceil(n / _STEP) - 1) * _STEP + _BLOCK - n
        pads.append((total // 2, total - total // 2))
    padded = np.pad(np.asarray(img, dtype=np.float64), pads)
    blocks = np.lib.stride_tricks.sliding_window_view(padded, (_BLOCK, _BLOCK))[::_STEP, ::_STEP]
    d = dct_matrix(_BLOCK).numpy()
    return d @ blocks @ d.T


def _dct_group(img: np.ndarray) -> np.ndarray:
    """The 6 pooled block-DCT statistics of one scale."""
    coef = block_dct(img).reshape(-1, _BLOCK * _BLOCK)
    ac = coef[:, 1:]
    shape = np.sort(ggd_shape(ac))
    variation = np.sort(_abs_variation(ac, _GGD_EPS))
    orient = np.stack([_abs_variation(coef[:, g], 1e-8) for g in ORIENTATION_GROUPS], axis=-1)
    orient = np.sort(orient.var(axis=-1, ddof=1))
    n = shape.size
    low = math.ceil(0.1 * n) + 1  # pyiqa quirk: 10 % plus one, with float rounding of 0.1 * n
    high = math.floor(0.9 * n)
    return np.array([shape[:low].mean(), shape.mean(), variation[high:].mean(), variation.mean(),
                     orient[high:].mean(), orient.mean()])


def _fix_covariance(c: np.ndarray) -> np.ndarray:
    """Clip negative eigenvalues to 0 and rescale the rest to keep the trace (pyiqa's correction)."""
    vals, vecs = np.linalg.eigh(c)
    pos = np.maximum(vals, 0.0)
    total = pos.sum()
    vals = pos * vals.sum() / (total if total != 0 else 1.0)
    return (vecs * vals) @ vecs.T


def _normalise_band(bands: list[np.ndarray], scale: int, orient: int) -> np.ndarray:
    """Divisive (GSM) normalisation of one band by its neighbourhood, guard band removed, zero mean."""
    cur = bands[scale * _NBANDS + orient]
    h, w = cur.shape
    cols = [np.lib.stride_tricks.sliding_window_view(cur, (3, 3)).reshape(-1, 9)]
    n = 9
    if scale + 1 < _GSM_SCALES:
        parent = imresize(bands[(scale + 1) * _NBANDS + orient], size=(h, w))
        cols.append(parent[1:-1, 1:-1].reshape(-1, 1))
        n += 1  # pyiqa quirk: the 5 sibling orientations are not counted in the normaliser
    cols += [bands[scale * _NBANDS + o][1:-1, 1:-1].reshape(-1, 1) for o in range(_NBANDS) if o != orient]
    v = np.hstack(cols)
    cov = _fix_covariance(v.T @ v / v.shape[0])
    solved = np.linalg.lstsq(cov, v.T, rcond=None)[0].T
    z = np.sqrt(np.maximum((solved * v).sum(axis=1), 0.0) / n)
    centre = cur[1:-1, 1:-1].reshape(-1)
    centre = centre - centre.mean()
    g = np.where(z != 0, centre / (z + 1e-12), 0.0).reshape(h - 2, w - 2)
    gb = _GUARD >> scale
    g = g[gb:-gb, gb:-gb]
    return g - g.mean()


def pyiqa_ssim(x: np.ndarray, y: np.ndarray) -> float:
    """pyiqa's ``SSIM(test_y_channel=False)`` as NRQM calls it: inputs times 255 and rounded, L = 255,
    11x11 Gaussian (sigma 1.5) 'valid' window, contrast-structure term clipped at 0."""
    a, b = np.round(x * 255.0), np.round(y * 255.0)
    g = gaussian_window_1d()
    c1, c2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2
    ma, mb = filter_valid(a, g), filter_valid(b, g)
    saa, sbb = filter_valid(a * a, g) - ma**2, filter_valid(b * b, g) - mb**2
    sab = filter_valid(a * b, g) - ma * mb
    cs = np.maximum((2 * sab + c2) / (saa + sbb + c2), 0.0)
    return float((((2 * ma * mb + c1) / (ma**2 + mb**2 + c1)) * cs).mean())


def _gsm_group(img255: np.ndarray) -> np.ndarray:
    """The 45 GSM statistics of the 0-255 image."""
    pyr = steerable_pyramid(img255, height=_GSM_SCALES, nbands=_NBANDS)
    bands = [b.real for level in pyr.bands for b in level]
    sub = [_normalise_band(bands, s, o) for s in range(_GSM_SCALES) for o in range(_NBANDS)]
    feats = [float(ggd_shape(s.reshape(-1))) for s in sub]
    feats += [float(ggd_shape(np.concatenate([sub[o].reshape(-1), sub[o + _NBANDS].reshape(-1)])))
              for o in range(_NBANDS)]
    hp = pyr.highpass
    feats += [pyiqa_ssim(imresize(s, size=hp.shape), hp) for s in sub]
    feats += [pyiqa_ssim(sub[i], sub[j]) for i in range(_NBANDS) for j in range(i + 1, _NBANDS)]
    return np.array(feats)


def patch_singular_values(img: np.ndarray) -> np.ndarray:
    """The 25 singular values (descending) of the 5x5 non-overlapping patches of ``img`` (MATLAB
    ``svd(im2col(img, [5 5], 'distinct'))``, zero padded bottom/right); zeros when fewer than 25 patches."""
    h, w = img.shape
    nh, nw = math.ceil(h / _PATCH), math.ceil(w / _PATCH)
    padded = np.pad(np.asarray(img, dtype=np.float64), ((0, nh * _PATCH - h), (0, nw * _PATCH - w)))
    patches = padded.reshape(nh, _PATCH, nw, _PATCH).transpose(0, 2, 1, 3).reshape(-1, _PATCH * _PATCH)
    s = np.linalg.svd(patches, compute_uv=False)
    out = np.zeros(_PATCH * _PATCH)
    out[: s.size] = s
    return out


def _as_image(y: torch.Tensor | np.ndarray) -> np.ndarray:
    if isinstance(y, torch.Tensor):
        y = y.detach().cpu().to(torch.float64).numpy()
    img = np.asarray(y, dtype=np.float64)
    while img.ndim > 2 and img.shape[0] == 1:
        img = img[0]
    if img.ndim != 2:
        raise ImageError(f"nrqm: expected one Y image (H, W), (1, H, W) or (1, 1, H, W), got shape {np.shape(y)}")
    if min(img.shape) < MIN_SIDE:
        raise ImageError(f"nrqm: image of shape {img.shape} is too small; NRQM needs at least "
                         f"{MIN_SIDE}x{MIN_SIDE} pixels (after any border shave)")
    if not np.isfinite(img).all():
        raise ImageError("nrqm: image has non-finite values")
    return img


def nrqm_features(y: torch.Tensor | np.ndarray) -> NrqmFeatures:
    """The DCT (18), GSM (45) and PCA (75) features of one Y image in [0, 1] (see the module docstring
    for the 0-255 convention of pyiqa/MATLAB). Pure and deterministic."""
    img = _as_image(y)
    pyr = gaussian_pyramid(img)
    feats = NrqmFeatures(dct=np.concatenate([_dct_group(p) for p in pyr]), gsm=_gsm_group(img * 255.0),
                         pca=np.concatenate([patch_singular_values(p) for p in pyr]))
    for name, f in zip(("dct", "gsm", "pca"), feats.groups):
        if not np.isfinite(f).all():
            raise ImageError(f"nrqm: non-finite {name} features for an image of shape {img.shape}")
    return feats


def nrqm(y: torch.Tensor | np.ndarray, model: NrqmModel) -> float:
    """Ma et al.'s score of one Y image in [0, 1]: ``intercept + weights . (forest outputs)``."""
    feats = nrqm_features(y)
    scores = [forest_predict(f, x) for f, x in zip(model.forests, feats.groups)]
    return float(model.intercept + np.dot(model.weights, scores))
