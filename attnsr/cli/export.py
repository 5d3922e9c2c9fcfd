"""``attnsr export onnx --model NAME [--weights FILE] -o model.onnx``."""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "export a model to ONNX (dynamic batch, height and width)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("format", choices=["onnx"], help="export format")
    p.add_argument("--model", default=None,
                   help="bundled model (default: the bundled default), 'bicubic', or registry name with --weights")
    p.add_argument("--weights", type=Path, default=None, help="official or attnsr checkpoint")
    p.add_argument("--scale", type=int, default=None)
    p.add_argument("--opset", type=int, default=17)
    p.add_argument("-o", "--output", type=Path, required=True)


def run(args: argparse.Namespace) -> int:
    from attnsr.infer.export import export_onnx
    from attnsr.infer.resolve import resolve_model

    resolved = resolve_model(args.model, args.weights, args.scale)
    path = export_onnx(resolved.model, args.output, opset=args.opset)
    print(f"{path}: {resolved.label} x{resolved.scale} (input 'lr' N×3×H×W RGB [0,1], output 'sr')")
    return 0
