"""ONNX export with dynamic sizes reproduces the PyTorch output in onnxruntime, for every registry
generator (reduced depth) and every bundled model."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from attnsr.cli.main import main
from attnsr.infer.export import ExportError, adaptive_pool_matrix, export_onnx, sparsemax_dense
from attnsr.infer.resolve import Bicubic, bundled_models, resolve_model
from attnsr.models import all_entries, create, save_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "models"))
from test_registry import REDUCED  # noqa: E402  (the registry test's reduced depths, one list)

ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'attnsr[onnx]')")

GENERATORS = [name for name, e in all_entries().items() if e.role == "generator"]
#: networks missing from the registry test's table (kept here so this file does not edit that one)
EXTRA_REDUCED: dict[str, dict] = {"srvgg": {"num_conv": 2, "nf": 16}}


def _check_in_ort(model: torch.nn.Module, path: Path, scale: int) -> None:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for h, w in ((17, 23), (32, 9)):  # neither is the 32×32 trace size in both axes
        x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h * w))
        with torch.no_grad():
            ref = model(x).numpy()
        got = session.run(None, {"lr": x.numpy()})[0]
        assert got.shape == ref.shape == (1, 3, scale * h, scale * w)
        assert np.abs(got - ref).max() < 1e-4, f"max diff {np.abs(got - ref).max():.2e} at {h}x{w}"


@pytest.mark.parametrize("name", GENERATORS)
def test_every_generator_exports_and_matches_torch(tmp_path: Path, name: str) -> None:
    torch.manual_seed(0)
    scale = all_entries()[name].scales[0]
    cfg = REDUCED.get(name, EXTRA_REDUCED.get(name))
    assert cfg is not None, f"give {name} a reduced config"
    model = create(name, scale=scale, **cfg).eval()
    _check_in_ort(model, export_onnx(model, tmp_path / "m.onnx"), scale)


BUNDLED = [pytest.param(k, marks=[] if k[1] == 2 else [pytest.mark.slow], id=f"{k[0]}_x{k[1]}")
           for k in bundled_models()]


@pytest.mark.parametrize("key", BUNDLED)
def test_every_bundled_model_exports_and_matches_torch(tmp_path: Path, key: tuple[str, int]) -> None:
    """Through the README's command (``attnsr export onnx --model NAME``); x3/x4 are slow-marked (4 s each)."""
    out = tmp_path / "m.onnx"
    assert main(["export", "onnx", "--model", key[0], "--scale", str(key[1]), "-o", str(out)]) == 0
    _check_in_ort(resolve_model(key[0], None, key[1]).model, out, key[1])


def test_pool_matrix_equals_adaptive_avg_pool() -> None:
    x = torch.rand(2, 3, 19, 5, dtype=torch.float64)  # 5 < 7: overlapping bins
    a_h, a_w = adaptive_pool_matrix(19, 7, x), adaptive_pool_matrix(5, 7, x)
    assert torch.allclose(a_h @ x @ a_w.T, F.adaptive_avg_pool2d(x, 7), atol=1e-12)


def test_dense_sparsemax_sums_to_one_and_is_sparse() -> None:
    z = torch.randn(4, 50, dtype=torch.float64) * 3
    p = sparsemax_dense(z)
    assert torch.allclose(p.sum(-1), torch.ones(4, dtype=torch.float64)) and (p == 0).any()
    tau = (z - p)[p > 0].view(-1)  # on the support z - p is the row's threshold
    assert (p >= 0).all() and tau.numel() > 0


def test_bicubic_is_refused_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="(?i)bicubic: cannot be exported") as info:
        export_onnx(Bicubic(2), tmp_path / "b.onnx")
    assert "\n" not in str(info.value) and not (tmp_path / "b.onnx").exists()


def test_export_cli_from_our_format(tmp_path: Path) -> None:
    torch.manual_seed(0)
    weights = tmp_path / "w.safetensors"
    save_model(create("rrdbnet", scale=2, nb=1, nf=8), weights)
    out = tmp_path / "sub" / "m.onnx"
    assert main(["export", "onnx", "--weights", str(weights), "-o", str(out)]) == 0
    assert out.stat().st_size > 0 and not list(out.parent.glob(".*tmp*"))

