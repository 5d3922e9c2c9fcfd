"""Quality per CPU-hour of photo-model candidates: which architecture `--model photo` uses.

    .venv/bin/python benchmarks/photo_candidates.py [--minutes 10 | --iterations N] [--holdout 10] [--json FILE]
        [--only NAME,...] [--set KEY=VALUE ...] [--tag TAG]

Each candidate is trained with attnsr's trainer for the same one-thread budget on T91 minus ``--holdout``
images, with the data settings of ``configs/bundled/attnsr-photo_x2.yaml`` (realistic degradations made on
the fly, T91's downscaled copies, LR patches 48, batch 16; ``--clean-prob`` of the images get the clean
bicubic LR instead; the recipe's ``data.extra_hr_dirs`` left out, so T91 alone unless ``--set`` adds
them), L1, Adam, cosine schedule sized from the candidate's measured speed. It is then scored
on the held-out T91 images, so no benchmark image takes part in the choice, in two settings: the fixed
real-photo setting of ``attnsr eval --degradation realistic`` (PSNR on Y, shave 2; LPIPS AlexNet) and the
clean MATLAB-bicubic LR (PSNR on Y). Printed per candidate: parameters, s/iteration (model step plus
degradation), iterations, both scores with their gains over bicubic, and the one-thread 1-MP inference time.

``--set`` changes the recipe for every candidate, as ``attnsr train --set`` does (e.g.
``--set data.realistic.realesrgan.second_order_prob=0.5`` or ``--set 'data.extra_hr_dirs=[data/extra-photos]'``),
so one architecture can be trained under several data settings; ``--iterations`` gives every candidate the same
number of steps instead of the same minutes (fair when the candidates are one architecture), and ``--tag``
names the variant in the printout and the JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from bundled_seeds import seconds_per_megapixel, split  # noqa: E402

from attnsr.eval import EvalSettings, bicubic_method, evaluate_dataset, prepare_metrics  # noqa: E402
from attnsr.models import create  # noqa: E402
from attnsr.models.stats import count_params  # noqa: E402
from attnsr.train import config_from_dict, train  # noqa: E402
from attnsr.train.config import apply_overrides  # noqa: E402
from attnsr.train.loop import batch_inputs  # noqa: E402

RECIPE = REPO / "configs" / "bundled" / "attnsr-photo_x2.yaml"
SCALE = 2
CANDIDATES: dict[str, tuple[str, dict]] = {
    # Real-ESRGAN's compact plain network, as shipped: no pooling, so tiles are exact
    "srvgg nf48 x10": ("srvgg", {"nf": 48, "num_conv": 10, "act": "prelu"}),
    # the bundled default's architecture: DFSA's MMCA on RCAN, 32 features, 3 groups x 2 blocks
    "dfsa c32 3x2 mmca": ("dfsa", {"n_feats": 32, "n_resgroups": 3, "n_resblocks": 2, "reduction": 8,
                                   "hpf_placement": "none"}),
    # the same RCAN with its own (global average pooling) channel attention instead of MMCA
    "rcan c32 3x2": ("rcan", {"n_feats": 32, "n_resgroups": 3, "n_resblocks": 2, "reduction": 8}),
    # a wider, deeper plain network
    "srvgg nf64 x16": ("srvgg", {"nf": 64, "num_conv": 16, "act": "prelu"}),
}


def recipe_dict(train_dir: Path, out: Path, net: str, options: dict, iterations: int, clean_prob: float,
                overrides: tuple[str, ...] = ()) -> dict:
    recipe = yaml.safe_load(RECIPE.read_text())
    recipe["data"].pop("extra_hr_dirs", None)  # T91 alone, as the documented comparisons; --set adds them
    d = apply_overrides(recipe, overrides)
    d.update(name="photo-candidate", output_dir=str(out), iterations=iterations, threads=1, progress=False,
             log_every=max(1, iterations // 10), save_every=iterations, keep_last=1)
    d["model"] = {"name": net, "scale": SCALE, "options": options}
    d["data"]["hr_dir"] = str(train_dir)
    d["data"]["realistic"]["clean_prob"] = clean_prob
    return d


def seconds_per_iteration(d: dict, probe: int = 5) -> float:
    """One training step (realistic LR of a batch + forward/backward/Adam) on random HR patches."""
    cfg = config_from_dict(d)
    model = create(cfg.model.name, scale=SCALE, **cfg.model.options).train()
    opt = torch.optim.Adam(model.parameters(), cfg.optim.lr)
    side = cfg.data.lr_patch * SCALE
    hr = torch.rand(cfg.data.batch_size, 3, side, side)
    for i in range(probe + 2):
        if i == 2:
            start = time.perf_counter()
        lr, target = batch_inputs(cfg, 0, i, torch.empty(0), hr)
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.l1_loss(model(lr), target).backward()
        opt.step()
    return (time.perf_counter() - start) / probe


def trained_model(net: str, options: dict, checkpoint: Path) -> torch.nn.Module:
    from safetensors.torch import load_file

    model = create(net, scale=SCALE, **options)
    model.load_state_dict(load_file(str(checkpoint / "ema.safetensors")))
    return model.eval()


def scores(method, val: Path, scorers_real, scorers_clean) -> tuple[float, float, float]:
    real = evaluate_dataset(method, val, SCALE, EvalSettings(degradation="realistic", metrics=("psnr", "lpips"),
                                                             progress=False), scorers_real)
    clean = evaluate_dataset(method, val, SCALE, EvalSettings(metrics=("psnr",), progress=False), scorers_clean)
    return real.means["psnr_y"], real.means["lpips"], clean.means["psnr_y"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "datasets" / "T91")
    ap.add_argument("--minutes", type=float, default=10.0, help="training budget per candidate")
    ap.add_argument("--holdout", type=int, default=10)
    ap.add_argument("--clean-prob", type=float, default=0.3)
    ap.add_argument("--only", default="", help="comma-separated candidate names (default all)")
    ap.add_argument("--iterations", type=int, default=0, help="fixed steps per candidate instead of --minutes")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="change the recipe for every candidate (repeatable)")
    ap.add_argument("--tag", default="", help="a name for this data setting, added to each candidate's name")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    overrides = tuple(args.overrides)
    torch.set_num_threads(1)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(CANDIDATES)
    scorers_real, scorers_clean = prepare_metrics(("psnr", "lpips")), prepare_metrics(("psnr",))
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        tr, va = split(args.data, args.holdout, Path(tmp))
        base = scores(bicubic_method(SCALE), va, scorers_real, scorers_clean)
        print(f"held-out T91 ({args.holdout} images) bicubic x{SCALE}: realistic {base[0]:.3f} dB / LPIPS "
              f"{base[1]:.4f}, clean {base[2]:.3f} dB", flush=True)
        for name in names:
            net, options = CANDIDATES[name]
            out = Path(tmp) / name.replace(" ", "_")
            spi = seconds_per_iteration(recipe_dict(tr, out, net, options, 10, args.clean_prob, overrides))
            iterations = args.iterations or max(20, int(args.minutes * 60 / spi))
            start, cpu0 = time.perf_counter(), time.process_time()
            result = train(config_from_dict(recipe_dict(tr, out, net, options, iterations, args.clean_prob,
                                                        overrides)))
            wall, cpu = time.perf_counter() - start, time.process_time() - cpu0
            model = trained_model(net, options, result.last_checkpoint)
            with torch.inference_mode():
                real_psnr, real_lpips, clean_psnr = scores(lambda x: model(x), va, scorers_real, scorers_clean)
            rec = {
                "params": count_params(model), "s_per_iteration": spi, "iterations": iterations,
                "train_wall_minutes": wall / 60, "train_cpu_minutes": cpu / 60,
                "realistic_psnr": real_psnr, "realistic_gain": real_psnr - base[0], "realistic_lpips": real_lpips,
                "clean_psnr": clean_psnr, "clean_gain": clean_psnr - base[2],
                "infer_s_per_mpix_1thread": seconds_per_megapixel(net, options),
            }
            label = f"{name} [{args.tag}]" if args.tag else name
            results[label] = rec
            print(f"{label:18s} {rec['params'] / 1e3:6.1f}K params  {spi:5.2f} s/it  {iterations:5d} it in "
                  f"{rec['train_wall_minutes']:4.1f} min ({rec['train_cpu_minutes']:4.1f} CPU-min)  realistic "
                  f"{real_psnr:.3f} dB ({rec['realistic_gain']:+.3f}) LPIPS {real_lpips:.4f}  "
                  f"clean {clean_psnr:.3f} dB ({rec['clean_gain']:+.3f})  "
                  f"1-MP inference {rec['infer_s_per_mpix_1thread']:.1f} s (1 thread)",
                  flush=True)
    if args.json:
        payload = {"minutes": args.minutes, "iterations": args.iterations, "clean_prob": args.clean_prob,
                   "overrides": list(overrides),
                   "bicubic": dict(zip(("realistic_psnr", "realistic_lpips", "clean_psnr"), base)),
                   "candidates": results}
        args.json.write_text(json.dumps(payload, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
