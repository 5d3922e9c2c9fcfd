"""ONNX export with dynamic sizes reproduces the PyTorch output in onnxruntime."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from attnsr.cli.main import main
from attnsr.infer.export import export_onnx
from attnsr.models import create, save_model

ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install 'attnsr[onnx]')")


@pytest.mark.parametrize("name,cfg", [("rrdbnet", {"nb": 1, "nf": 16}),
                                      ("defian_s", {"n_channels": 16, "n_blocks": 1, "n_modules": 2})])
def test_onnx_matches_torch_at_other_sizes(tmp_path: Path, name: str, cfg: dict) -> None:
    torch.manual_seed(0)
    model = create(name, scale=2, **cfg).eval()
    path = export_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for h, w in ((17, 23), (32, 9)):
        x = torch.rand(1, 3, h, w)
        with torch.no_grad():
            ref = model(x).numpy()
        got = session.run(None, {"lr": x.numpy()})[0]
        assert got.shape == ref.shape == (1, 3, 2 * h, 2 * w)
        assert np.abs(got - ref).max() < 1e-4


def test_export_cli_from_our_format(tmp_path: Path) -> None:
    torch.manual_seed(0)
    weights = tmp_path / "w.safetensors"
    save_model(create("rrdbnet", scale=2, nb=1, nf=8), weights)
    out = tmp_path / "sub" / "m.onnx"
    assert main(["export", "onnx", "--weights", str(weights), "-o", str(out)]) == 0
    assert out.stat().st_size > 0 and not list(out.parent.glob(".*tmp*"))
