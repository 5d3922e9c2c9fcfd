"""LPIPS with the converted weights: properties, and values checked against an independent numpy path.

The weights come from the user cache (``attnsr assets install lpips``); without them these tests skip.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view

from attnsr.assets import MissingAssetError, load_lpips
from attnsr.errors import ImageError
from attnsr.metrics.lpips import FASRGAN_LPIPS, LPIPSConfig, load_lpips_model

# --- an independent plain-numpy LPIPS (float64), written from the paper / official constants -------------
SHIFT = np.array([-0.030, -0.088, -0.188])[:, None, None]
SCALE = np.array([0.458, 0.448, 0.450])[:, None, None]
# per tapped layer: ("pool", k, s) then ("conv", index, stride, pad) entries
ALEX = [[("conv", 0, 4, 2)], [("pool", 3, 2), ("conv", 1, 1, 2)], [("pool", 3, 2), ("conv", 2, 1, 1)],
        [("conv", 3, 1, 1)], [("conv", 4, 1, 1)]]


def _np_conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> np.ndarray:
    k = w.shape[-1]
    win = sliding_window_view(np.pad(x, ((0, 0), (pad, pad), (pad, pad))), (k, k), axis=(1, 2))
    out = np.tensordot(win[:, ::stride, ::stride], w, axes=([0, 3, 4], [1, 2, 3]))  # (Ho, Wo, O)
    return out.transpose(2, 0, 1) + b[:, None, None]


def _np_lpips(x: np.ndarray, y: np.ndarray, sd: dict[str, np.ndarray], version: str, plan: list) -> float:
    def feats(img: np.ndarray) -> list[np.ndarray]:
        h = img * 2 - 1
        if version == "0.1":
            h = (h - SHIFT) / SCALE
        out = []
        for stage in plan:
            for op in stage:
                if op[0] == "pool":
                    h = sliding_window_view(h, (op[1], op[1]), axis=(1, 2))[:, :: op[2], :: op[2]].max(axis=(3, 4))
                else:
                    h = np.maximum(_np_conv(h, sd[f"features.{op[1]}.weight"], sd[f"features.{op[1]}.bias"],
                                            op[2], op[3]), 0)
            out.append(h)
        return out

    total = 0.0
    for k, (fx, fy) in enumerate(zip(feats(x), feats(y))):
        nx = fx / (np.sqrt((fx**2).sum(0, keepdims=True)) + 1e-10)
        ny = fy / (np.sqrt((fy**2).sum(0, keepdims=True)) + 1e-10)
        w = sd[f"heads.v{version.replace('.', '_')}.{k}"].reshape(-1)
        total += float(np.einsum("c,chw->hw", w, (nx - ny) ** 2).mean())
    return total


def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    """A fixed 64x64 pair made from formulas (no RNG): a textured pattern and a shifted, dimmed copy."""
    yy, xx = torch.meshgrid(torch.arange(64.0), torch.arange(64.0), indexing="ij")
    chans = [0.5 + 0.4 * torch.sin(xx * f + yy * g) for f, g in ((0.3, 0.1), (0.05, 0.7), (0.2, 0.2))]
    x = torch.stack(chans)[None]
    y = 0.9 * torch.roll(x, shifts=(1, 2), dims=(2, 3)) + 0.05
    return x, y


_MODELS: dict[LPIPSConfig, torch.nn.Module] = {}


def _model(config: LPIPSConfig) -> torch.nn.Module:
    """The pretrained model, loaded once per test session; skips when the weights are not installed."""
    if config not in _MODELS:
        try:
            _MODELS[config] = load_lpips_model(config)
        except MissingAssetError as exc:
            pytest.skip(f"LPIPS weights not installed ({exc})")
    return _MODELS[config]


@pytest.fixture(scope="module")
def alex() -> torch.nn.Module:
    return _model(LPIPSConfig())


# values computed once with _np_lpips (float64) on _pair(); the torch model must agree with both
PINNED = {"0.1": 0.06163768, "0.0": 0.04263382}


@pytest.mark.parametrize("config", [LPIPSConfig(), FASRGAN_LPIPS], ids=["alex-v0.1", "alex-v0.0-fasrgan"])
def test_alex_value_matches_numpy_reference(config: LPIPSConfig) -> None:
    model = _model(config)
    x, y = _pair()
    sd = {k: v.double().numpy() for k, v in load_lpips("alex").items()}  # after _model: installed
    ref = _np_lpips(x[0].double().numpy(), y[0].double().numpy(), sd, config.version, ALEX)
    with torch.no_grad():
        got = float(model(x, y)[0])
    assert got == pytest.approx(ref, rel=1e-5)
    assert ref == pytest.approx(PINNED[config.version], rel=1e-5)


def test_identity_and_symmetry(alex) -> None:
    x, y = _pair()
    batch_x, batch_y = torch.cat([x, y, x]), torch.cat([y, x, x])
    with torch.no_grad():
        d = alex(batch_x, batch_y)
    assert d.shape == (3,)
    assert d[2] == 0.0
    assert d[0] == pytest.approx(float(d[1]), rel=1e-6) and d[0] > 0.01


def test_vgg_identity_symmetry_and_ordering() -> None:
    model = _model(LPIPSConfig(net="vgg"))
    x = _pair()[0][..., 8:24, 8:24]  # the smallest VGG input: VGG16 is heavy on a shared CPU
    slightly = x + 0.01
    strongly = torch.nn.functional.avg_pool2d(x, 7, 1, 3)
    with torch.no_grad():
        same, near, near_swapped, far = model(torch.cat([x, x, slightly, x]), torch.cat([x, slightly, x, strongly]))
    assert float(same) == 0.0
    assert float(near) == pytest.approx(float(near_swapped), rel=1e-6)
    assert 0 < near < far


def test_differentiable_for_losses(alex) -> None:
    x, y = _pair()
    y = y.clone().requires_grad_(True)
    alex(x, y).sum().backward()
    assert y.grad is not None and torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    assert all(p.grad is None for p in alex.parameters())


def test_rejects_bad_inputs(alex) -> None:
    x, y = _pair()
    with pytest.raises(ImageError, match="at least 31x31"):
        alex(x[..., :30, :30], y[..., :30, :30])
    with pytest.raises(ImageError, match=r"\(1, 3, 64, 64\) and \(1, 3, 64, 63\)"):
        alex(x, y[..., :63])
