"""Export a model to ONNX with dynamic batch, height and width (weights folded for inference).

The TorchScript exporter records one trace, so every operation whose *structure* depends on the input
size must be written with size-generic tensor ops. Two layers of the registry are not, and the exported
copy (never the caller's model) swaps them for export forms computing the same function:

* ``MMCA`` (DFSA and the bundled models) pools to a 7×7 grid with ``adaptive_avg_pool2d``, which ONNX
  has no operator for at a dynamic input size. The pool is rewritten as ``A_H · x · A_Wᵀ`` with the
  averaging matrices built from the traced H and W (the bins PyTorch uses: ``[⌊iH/7⌋, ⌈(i+1)H/7⌉)``).
* ``HSPA`` (HSPAN) finds each row's sparsemax support with data-dependent loops. The export form is the
  textbook sort-and-cumsum sparsemax over the dense P×P scores (P = H·W), as the official code builds
  them: ONNX runtimes then need O(P²) memory, so tile large images (the official code chops them).

Both differ from the eager forward only by float32 rounding (~1e-6; tests/infer/test_export.py).
"""

from __future__ import annotations

import copy
import os
import types
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attnsr.atomic import atomic_path
from attnsr.errors import AttnsrError
from attnsr.ops.fold import fold_for_inference


class ExportError(AttnsrError, RuntimeError):
    """A model that cannot be exported; the message says which model and why, in one line."""


def adaptive_pool_matrix(size: Any, bins: int, like: torch.Tensor) -> torch.Tensor:
    """``bins``×``size`` matrix whose product with a length-``size`` axis equals ``adaptive_avg_pool``.

    Row i averages positions ``[floor(i·size/bins), ceil((i+1)·size/bins))``, PyTorch's bins (overlapping
    when size < bins). ``size`` may be a traced shape value; dtype and device follow ``like``.
    """
    pos = torch.arange(size, device=like.device).unsqueeze(0)
    i = torch.arange(bins, device=like.device).unsqueeze(1)
    start = torch.div(i * size, bins, rounding_mode="floor")
    end = torch.div((i + 1) * size + bins - 1, bins, rounding_mode="floor")
    inside = ((pos >= start) & (pos < end)).to(like.dtype)
    return inside / (end - start).to(like.dtype)


def _mmca_spectrum_export(self: Any, x: torch.Tensor) -> torch.Tensor:
    """``MMCA.spectrum`` with the pool as two matrix products (same bins, same DCT)."""
    d = self.dct.to(dtype=x.dtype)
    a_h = adaptive_pool_matrix(x.shape[-2], self.pool_size, x)
    a_w = adaptive_pool_matrix(x.shape[-1], self.pool_size, x)
    return (d @ a_h) @ x @ (d @ a_w).transpose(0, 1)


def sparsemax_dense(scores: torch.Tensor) -> torch.Tensor:
    """Row-wise sparsemax of ``scores`` (…×P) by sort and cumulative sum (Martins & Astudillo, 2016).

    Support size K = #{k : 1 + k·z₍k₎ > Σ_{j≤k} z₍j₎} over the sorted row; τ = (Σ_{j≤K} z₍j₎ − 1)/K;
    weights max(z − τ, 0). Every step is a fixed ONNX operator at any P.
    """
    z_sorted, _ = torch.sort(scores, dim=-1, descending=True)
    cums = z_sorted.cumsum(-1)
    ks = torch.ones_like(z_sorted).cumsum(-1)
    support = ((1 + ks * z_sorted) > cums).to(scores.dtype).sum(-1, keepdim=True)
    tau = (cums.gather(-1, support.long() - 1) - 1) / support
    return torch.clamp(scores - tau, min=0)


def _hspa_forward_export(self: Any, x: torch.Tensor) -> torch.Tensor:
    """``HSPA.forward`` with the dense sparsemax (same function; O(P²) memory)."""
    query, key, value = self.conv_match1(x), self.conv_match2(x), self.conv_assembly(x)
    query = query.flatten(2).transpose(1, 2)  # N×P×Cq
    weights = sparsemax_dense(torch.bmm(query, key.flatten(2)))  # N×P×P
    out = torch.bmm(weights, value.flatten(2).transpose(1, 2))  # N×P×C
    return self.res_scale * out.transpose(1, 2).reshape(x.shape) + x


def exportable(model: nn.Module) -> nn.Module:
    """A folded eval-mode copy of ``model`` whose size-dependent layers use their export forms."""
    from attnsr.models.hspan import HSPA
    from attnsr.ops.mmca import MMCA

    net = fold_for_inference(model.eval()).cpu()
    if net is model:  # fold always copies today; never patch the caller's modules if that changes
        net = copy.deepcopy(net)
    for module in net.modules():
        if isinstance(module, MMCA) and module.pool_size is not None:
            setattr(module, "spectrum", types.MethodType(_mmca_spectrum_export, module))
        elif isinstance(module, HSPA):
            setattr(module, "forward", types.MethodType(_hspa_forward_export, module))
    return net


def why_not_exportable(model: nn.Module) -> str | None:
    """One line saying why ``model`` cannot be exported, or None when nothing known prevents it."""
    from attnsr.infer.resolve import Bicubic

    if isinstance(model, Bicubic):
        return ("the bicubic baseline builds its MATLAB interpolation weights in numpy from the image "
                "size, so a trace would fix one input size; use ONNX Resize or attnsr itself")
    return None


def export_onnx(model: nn.Module, path: str | os.PathLike[str], *, opset: int = 17, probe: int = 32) -> Path:
    """Write ``model`` (RGB [0,1] in/out) as ONNX: input ``lr`` (N,3,H,W), output ``sr``; N, H, W dynamic.

    The file is written to a temporary name and renamed, so a failed export leaves nothing behind.
    Raises :class:`ExportError` (one line) for a model that cannot be exported.
    """
    label = getattr(model, "attnsr_name", type(model).__name__)
    reason = why_not_exportable(model)
    if reason is not None:
        raise ExportError(f"{label}: cannot be exported to ONNX: {reason}")
    net = exportable(model)
    x = torch.rand(1, 3, probe, probe)
    try:
        with atomic_path(path) as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation; traces warn
            torch.onnx.export(
                net, (x,), str(tmp), input_names=["lr"], output_names=["sr"], opset_version=opset,
                dynamo=False, dynamic_axes={"lr": {0: "n", 2: "h", 3: "w"}, "sr": {0: "n", 2: "H", 3: "W"}},
            )
    except (RuntimeError, TypeError, ValueError) as exc:  # the exporter's own messages span pages of IR
        first = next((line.strip() for line in str(exc).splitlines() if line.strip()), type(exc).__name__)
        raise ExportError(f"{label}: ONNX export failed ({type(exc).__name__}: {first[:200]})") from exc
    return Path(path)
