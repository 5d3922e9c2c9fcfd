"""Copy the EMA weights of the bundled-model training runs into the package, with provenance metadata,
and record the reference outputs that tests/test_bundled.py checks. The run of
``configs/bundled/<name>_x<scale>.yaml`` is read from ``<runs>/<name>_x<scale>`` (its last stage's folder
for a staged recipe; the training time is summed over all stages).

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
from attnsr.train import load_plan

REPO = Path(__file__).resolve().parents[1]
MODELS = REPO / "attnsr" / "assets" / "models"
REFERENCE = REPO / "tests" / "fixtures" / "bundled_reference.json"


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
    ap.add_argument("--recipes", type=Path, default=REPO / "configs" / "bundled", help="folder of the recipes")
    ap.add_argument("--models-dir", type=Path, default=MODELS, help="where the shipped files go")
    ap.add_argument("--reference", type=Path, default=REFERENCE, help="JSON of the recorded reference outputs")
    ap.add_argument("--name", default="attnsr-small")
    ap.add_argument("--scales", type=int, nargs="+", default=[2, 3, 4])
    ap.add_argument("--weights", choices=("generator", "ema"), default="ema",
                    help="which weights of the last checkpoint to ship (runs whose EMA had no warm-up: generator)")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    references = json.loads(args.reference.read_text()) if args.reference.is_file() else {}
    for scale in args.scales:
        recipe_path = args.recipes / f"{args.name}_x{scale}.yaml"
        plan = load_plan(recipe_path)
        recipe = str(recipe_path.relative_to(REPO)) if recipe_path.is_relative_to(REPO) else str(recipe_path)
        root = args.runs / f"{args.name}_x{scale}"
        runs = [root / s.name if s.name else root for s in plan]  # a staged recipe: one folder per stage
        ckpt = latest_checkpoint(runs[-1])
        model = load_model(ckpt / f"{args.weights}.safetensors")
        iteration = int(ckpt.name.split("_")[1])
        seconds = sum(training_seconds(run) for run in runs)
        cfg = yaml.safe_load((ckpt / "config.yaml").read_text())
        last = plan[-1]
        init = (f"{last.init.weights} of stage {last.init.from_stage}" if last.init is not None
                else Path(cfg.get("model", {}).get("pretrained") or "").name)
        threads = int(cfg.get("threads") or 1)
        rescale = [float(f) for f in cfg.get("data", {}).get("hr_rescale") or [1.0] if float(f) != 1.0]
        degradation = cfg.get("data", {}).get("degradation") or "BI"
        extra = [str(d) for d in cfg.get("data", {}).get("extra_hr_dirs") or []]
        target = args.models_dir / f"{args.name}_x{scale}.safetensors"
        save_unless_same(model, target, extra={
            "name": f"{args.name}_x{scale}", "iterations": str(iteration),
            "weights": "EMA (decay 0.999)" if args.weights == "ema" else "generator (last iteration)",
            "recipe": recipe, "data": "T91 (91 training images)" + (
                f" and their copies downscaled by {', '.join(f'{f:g}' for f in rescale)}" if rescale else "")
            + (f", plus the images of {', '.join(extra)}" if extra else ""),
            "train_wall_seconds": f"{seconds:.0f}",
            "machine": "2-core CPU, " + ("1 torch thread per run" if threads == 1 else f"{threads} torch threads"),
            "initialised_from": init or "random (seed in the recipe)",
            **({"degradation": "realistic (data.realistic of the recipe)"} if degradation == "realistic" else {}),
        })
        references[f"{args.name}_x{scale}"] = {"iterations": iteration, **reference_output(load_model(target))}
        print(f"{target}: x{scale}, iteration {iteration}, {seconds / 3600:.2f} h of training "
              f"over {len(plan)} stage(s), "
              f"{target.stat().st_size / 1e6:.2f} MB")
    args.reference.parent.mkdir(parents=True, exist_ok=True)
    args.reference.write_text(json.dumps(references, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
