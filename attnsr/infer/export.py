"""Export a model to ONNX with dynamic height and width (weights folded for inference)."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import torch
from torch import nn

from attnsr.atomic import atomic_path
from attnsr.ops.fold import fold_for_inference


def export_onnx(model: nn.Module, path: str | os.PathLike[str], *, opset: int = 17, probe: int = 32) -> Path:
    """Write ``model`` (RGB [0,1] in/out) as ONNX: input ``lr`` (N,3,H,W), output ``sr``; N, H, W dynamic.

    The file is written to a temporary name and renamed, so a failed export leaves nothing behind.
    """
    net = fold_for_inference(model.eval()).cpu()
    x = torch.rand(1, 3, probe, probe)
    with atomic_path(path) as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
        torch.onnx.export(
            net, (x,), str(tmp), input_names=["lr"], output_names=["sr"], opset_version=opset,
            dynamo=False, dynamic_axes={"lr": {0: "n", 2: "h", 3: "w"}, "sr": {0: "n", 2: "H", 3: "W"}},
        )
    return Path(path)
