"""Copy the EMA weights of the bundled-model training runs into the package, with provenance metadata,
and record the reference outputs that tests/test_bundled.py checks.

Usage: .venv/bin/python scripts/bundle_models.py [--runs runs/bundled] [--name attnsr-small] [--scales 2 3 4]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch
import yaml

from attnsr.image.io import read_rgb
from attnsr.models import load_model, save_model
from attnsr.models.checkpoint import read_checkpoint

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "attnsr" / "assets" / "models"
REFERENCE = REPO / "tests" / "data" / "bundled_reference.json"


def latest_checkpoint(run: Path) -> Path:
    found = sorted((run / "checkpoints").glob("iter_*"))
    if not found:
        raise SystemExit(f"{run}: no checkpoints")
    return found[-1]


def training_seconds(run: Path) -> float:
    """Wall seconds of training, summed from the log's per-interval iteration rates."""
    total, last = 0.0, 0
    for line in (run / "train_log.jsonl").read_text().splitlines():
        rec = json.loads(line)
        if rec.get("it_s"):
            total += (rec["iteration"] - last) / rec["it_s"]
            last = rec["iteration"]
    return total


def reference_output(model: torch.nn.Module) -> dict[str, float | list[int]]:
    """Statistics of the model's output on a fixed crop of the bundled sample image."""
    lr = read_rgb(REPO / "attnsr" / "assets" / "sample.png")[:, :24, :32].unsqueeze(0)
    with torch.inference_mode():
        sr = model(lr)
    return {"shape": list(sr.shape), "mean": float(sr.mean()), "std": float(sr.std()),
            "corner": [float(v) for v in sr[0, :, 0, 0]]}


def save_unless_same(model: torch.nn.Module, target: Path, *, extra: dict[str, str]) -> None:
    """save_model, but leave ``target`` untouched when it already holds these tensors and metadata
    (safetensors writes metadata in hash order, so re-saving the same model changes the file's bytes)."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / target.name
        save_model(model, fresh, extra=extra)
        if target.is_file():
            new_tensors, new_meta = read_checkpoint(fresh)
            old_tensors, old_meta = read_checkpoint(target)
            if new_meta == old_meta and new_tensors.keys() == old_tensors.keys() and all(
                    torch.equal(new_tensors[k], old_tensors[k]) for k in new_tensors):
                return
    save_model(model, target, extra=extra)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=Path, default=REPO / "runs" / "bundled")
    ap.add_argument("--name", default="attnsr-small")
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--weights", choices=("generator", "ema"), default="ema",
                    help="which weights of the last checkpoint to ship (runs whose EMA had no warm-up: generator)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    references = json.loads(REFERENCE.read_text()) if REFERENCE.is_file() else {}
    for scale in args.scales:
        run = args.runs / f"{args.name}_x{scale}"
        ckpt = latest_checkpoint(run)
        model = load_model(ckpt / f"{args.weights}.safetensors")
        iteration = int(ckpt.name.split("_")[1])
        seconds = training_seconds(run)
        cfg = yaml.safe_load((ckpt / "config.yaml").read_text())
        init = cfg.get("model", {}).get("pretrained") or ""
        threads = int(cfg.get("threads") or 1)
        rescale = [float(f) for f in cfg.get("data", {}).get("hr_rescale") or [1.0] if float(f) != 1.0]
        degradation = cfg.get("data", {}).get("degradation") or "BI"
        target = MODELS / f"{args.name}_x{scale}.safetensors"
        save_unless_same(model, target, extra={
            "name": f"{args.name}_x{scale}", "iterations": str(iteration),
            "weights": "EMA (decay 0.999)" if args.weights == "ema" else "generator (last iteration)",
            "recipe": f"configs/bundled/{args.name}_x{scale}.yaml", "data": "T91 (91 training images)" + (
                f" and their copies downscaled by {', '.join(f'{f:g}' for f in rescale)}" if rescale else ""),
            "train_wall_seconds": f"{seconds:.0f}",
            "machine": "2-core CPU, " + ("1 torch thread per run" if threads == 1 else f"{threads} torch threads"),
            "initialised_from": Path(init).name if init else "random (seed in the recipe)",
            **({"degradation": "realistic (data.realistic of the recipe)"} if degradation == "realistic" else {}),
        })
        references[f"{args.name}_x{scale}"] = {"iterations": iteration, **reference_output(load_model(target))}
        print(f"{target.relative_to(REPO)}: x{scale}, iteration {iteration}, {seconds / 3600:.2f} h of training, "
              f"{target.stat().st_size / 1e6:.2f} MB")
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    REFERENCE.write_text(json.dumps(references, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
