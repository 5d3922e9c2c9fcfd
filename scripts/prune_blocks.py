"""Shorten an RCAN-style model (``dfsa`` with the RCAN backbone, or ``rcan``) by dropping residual blocks.

Keeps the first ``--blocks`` blocks of each of the first ``--groups`` residual groups, with each group's
closing convolution, the body's closing convolution, head and upsampler, and writes the result as an
attnsr model file that a training config can name as ``model.pretrained`` (loaded strictly). This is the
first step of the bundled ×2 recipe (configs/bundled/attnsr-small_x2.yaml): a 12-block model trained
first, then cut to 6 blocks and fine-tuned, so that the default model meets its speed budget.

Usage: .venv/bin/python scripts/prune_blocks.py SRC -o OUT --blocks 2 [--groups G]
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

from attnsr.models import create, from_official, save_model

GROUP_KEY = re.compile(r"body\.(\d+)\.body\.(\d+)\.(.+)")
BODY_KEY = re.compile(r"body\.(\d+)\.(.+)")


def prune_state(state: dict, groups: int, blocks: int, old_groups: int, old_blocks: int) -> dict:
    """Rename/drop keys of an RCAN body: ``body.g.body.b`` blocks (b < old_blocks), ``body.g.body.old_blocks``
    (group conv) and ``body.old_groups`` (body conv)."""
    out = {}
    for key, value in state.items():
        m = GROUP_KEY.fullmatch(key)
        if m and int(m[1]) < old_groups:
            g, b = int(m[1]), int(m[2])
            if g >= groups:
                continue
            if b == old_blocks:
                out[f"body.{g}.body.{blocks}.{m[3]}"] = value
            elif b < blocks:
                out[key] = value
            continue
        m = BODY_KEY.fullmatch(key)
        if m and int(m[1]) == old_groups:
            out[f"body.{groups}.{m[2]}"] = value
            continue
        out[key] = value
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("src", type=Path, help="attnsr model file or checkpoint generator/ema .safetensors")
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--blocks", type=int, required=True, help="residual blocks kept per group (the first ones)")
    ap.add_argument("--groups", type=int, default=0, help="residual groups kept (the first ones; 0 = all)")
    args = ap.parse_args(argv)
    model = from_official(args.src)
    cfg = model.attnsr_config
    if getattr(cfg, "backbone", "rcan") != "rcan" or not hasattr(cfg, "n_resgroups"):
        print(f"{args.src}: not an RCAN-backbone model ({model.attnsr_name})", file=sys.stderr)
        return 2
    groups = args.groups or cfg.n_resgroups
    if not (0 < args.blocks <= cfg.n_resblocks and 0 < groups <= cfg.n_resgroups):
        print(f"--blocks/--groups must be within the source's {cfg.n_resblocks} blocks x {cfg.n_resgroups} groups",
              file=sys.stderr)
        return 2
    state = prune_state(model.state_dict(), groups, args.blocks, cfg.n_resgroups, cfg.n_resblocks)
    options = {**dataclasses.asdict(cfg), "n_resgroups": groups, "n_resblocks": args.blocks}
    scale = options.pop("scale")
    pruned = create(model.attnsr_name, scale=scale, **options)
    pruned.load_state_dict(state, strict=True)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    save_model(pruned, args.output, extra={"pruned_from": str(args.src)})
    n = sum(p.numel() for p in pruned.parameters())
    print(f"{args.output}: {groups} groups x {args.blocks} blocks, {n} parameters")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
