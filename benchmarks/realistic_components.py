"""Which part of the real-photo degradation a model recovers: blur, noise and JPEG of the eval setting apart.

    .venv/bin/python benchmarks/realistic_components.py [--models photo,default] [--dataset DIR ...]
        [--scale 2] [--seed 0] [--threads 2] [--json FILE]

``attnsr eval --degradation realistic`` blurs each HR image (Gaussian, sigma 0.3-1.5 px), downscales it (area,
bilinear or bicubic), adds noise (Gaussian sigma 1-8 of 255, or Poisson) and saves it as JPEG (quality 60-95):
:data:`attnsr.image.realistic.EVAL_REALISTIC`. This script scores bicubic and each model (PSNR on Y, shave
``scale``, the eval protocol) on that setting restricted to one step at a time, then to pairs, then on the
whole of it, so the gain over bicubic can be read per step. The restricted settings switch steps off by
setting their probability to 0; every step that stays on keeps its eval ranges, but an image's draws differ
from the full setting's (a switched-off step draws nothing), so compare the rows as distributions, not image
by image.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from attnsr.eval import EvalSettings, bicubic_method, evaluate_dataset, prepare_metrics  # noqa: E402
from attnsr.image.realistic import EVAL_REALISTIC, RealisticConfig  # noqa: E402
from attnsr.infer.engine import Upscaler  # noqa: E402
from attnsr.infer.resolve import resolve_model  # noqa: E402

STEPS = ("blur", "noise", "jpeg")


def restricted(cfg: RealisticConfig, keep: set[str]) -> RealisticConfig:
    """``cfg`` (the eval setting's layout: blur in the first stage, noise and JPEG in the second) with only
    the steps in ``keep`` switched on."""
    if keep - set(STEPS):
        raise ValueError(f"unknown steps {sorted(keep - set(STEPS))}; choose from {STEPS}")
    r = cfg.realesrgan
    first = dataclasses.replace(r.first, blur_prob=r.first.blur_prob if "blur" in keep else 0.0)
    second = dataclasses.replace(r.second, noise_prob=r.second.noise_prob if "noise" in keep else 0.0,
                                 jpeg_prob=r.second.jpeg_prob if "jpeg" in keep else 0.0)
    return dataclasses.replace(cfg, realesrgan=dataclasses.replace(r, first=first, second=second))


SETTINGS: dict[str, set[str]] = {
    "downscale only": set(),
    "blur": {"blur"},
    "noise": {"noise"},
    "jpeg": {"jpeg"},
    "blur + noise": {"blur", "noise"},
    "noise + jpeg": {"noise", "jpeg"},
    "all (the eval setting)": set(STEPS),
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="photo,default", help="comma-separated bundled model names")
    ap.add_argument("--dataset", type=Path, action="append", default=[])
    ap.add_argument("--scale", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    datasets = args.dataset or [REPO.parent / "shared" / "datasets" / "B100"]
    methods = {"bicubic": bicubic_method(args.scale)}
    for name in (n.strip() for n in args.models.split(",") if n.strip()):
        engine = Upscaler(resolve_model(name, scale=args.scale).model, scale=args.scale, device="cpu", tile=0,
                          border="none")
        methods[name] = engine.upscale_tensor
    scorers = prepare_metrics(("psnr",))
    table: dict[str, dict[str, dict[str, float]]] = {}
    for folder in datasets:
        print(f"{folder.name} x{args.scale}, seed {args.seed}: PSNR-Y (gain over bicubic)", flush=True)
        print(f"  {'setting':<24}" + "".join(f"{m:>18}" for m in methods), flush=True)
        rows = table.setdefault(folder.name, {})
        for label, keep in SETTINGS.items():
            settings = EvalSettings(degradation="realistic", realistic=restricted(EVAL_REALISTIC, keep),
                                    metrics=("psnr",), seed=args.seed, progress=False)
            with torch.inference_mode():
                row = {m: float(evaluate_dataset(f, folder, args.scale, settings, scorers).means["psnr_y"])
                       for m, f in methods.items()}
            rows[label] = row
            cells = [f"{row['bicubic']:18.2f}"] + [f"{row[m]:11.2f} ({row[m] - row['bicubic']:+.2f})"
                                                   for m in methods if m != "bicubic"]
            print(f"  {label:<24}" + "".join(cells), flush=True)
    if args.json:
        args.json.write_text(json.dumps({"scale": args.scale, "seed": args.seed, "psnr_y": table}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
