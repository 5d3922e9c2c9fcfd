"""Deliberate one-line bugs that the suite must catch: each is applied to a copy of the tree and the tests
that guard it are run there; a mutation that leaves them green is a hole in the suite.

    .venv/bin/python tests/mutations.py [--only NAME,...] [--full]

``--full`` runs the whole suite per mutation instead of the guarding tests (minutes each). Exit status 1
when any mutation survives. Shared data is taken from ATTNSR_SHARED (default ../shared beside this tree).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Mutation:
    """Replace ``old`` (which must occur exactly once in ``path``) by ``new``; ``tests`` must then fail."""

    name: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation("ema-never-updated", "attnsr/train/loop.py",
             "                run.ema.update(run.generator, k)\n", "                pass\n",
             ("tests/train/test_train_state_safety.py",)),
    Mutation("state-unpickled", "attnsr/train/checkpoint.py",
             'state = torch.load(path, map_location="cpu", weights_only=True)',
             'state = torch.load(path, map_location="cpu", weights_only=False)',
             ("tests/train/test_train_state_safety.py",)),
    Mutation("psnr-shaves-one-more", "attnsr/metrics/psnr.py",
             "a, b = prepare_pair(sr, hr, crop_border, test_y)",
             "a, b = prepare_pair(sr, hr, crop_border + 1, test_y)",
             ("tests/metrics/test_psnr.py",)),
    Mutation("shave-one-more", "attnsr/metrics/_prepare.py",
             "        a = a[crop_border:-crop_border, crop_border:-crop_border]\n"
             "        b = b[crop_border:-crop_border, crop_border:-crop_border]\n",
             "        a = a[crop_border + 1:-crop_border - 1, crop_border + 1:-crop_border - 1]\n"
             "        b = b[crop_border + 1:-crop_border - 1, crop_border + 1:-crop_border - 1]\n",
             ("tests/metrics/test_psnr.py",)),
    Mutation("rcan-relu-removed", "attnsr/models/rcan.py",
             "            default_conv(n_feats, n_feats, 3),\n            nn.ReLU(inplace=True),\n",
             "            default_conv(n_feats, n_feats, 3),\n            nn.Identity(),\n",
             ("tests/models/test_rcan.py", "tests/models/test_esrgan_family.py")),
    Mutation("rng-not-restored", "attnsr/train/loop.py",
             '    ckpt.set_rng_state(state["rng"])\n', "",
             ("tests/train/test_train_state_safety.py",)),
)


def copy_tree(dest: Path) -> None:
    """The tracked and untracked-but-not-ignored files of the repository, copied to ``dest``."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, check=True,
                            capture_output=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def apply(tree: Path, m: Mutation) -> None:
    path = tree / m.path
    text = path.read_text()
    count = text.count(m.old)
    if count != 1:
        raise SystemExit(f"mutation {m.name}: {m.path} holds its target {count} times (expected once); update it")
    path.write_text(text.replace(m.old, m.new))


def survives(m: Mutation, full: bool) -> bool:
    with tempfile.TemporaryDirectory(prefix=f"mutant-{m.name}-") as tmp:
        tree = Path(tmp)
        copy_tree(tree)
        apply(tree, m)
        env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1"),
               "ATTNSR_SHARED": os.environ.get("ATTNSR_SHARED", str(REPO.parent / "shared"))}
        args = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"]
        args += [] if full else list(m.tests)
        return subprocess.run(args, cwd=tree, env=env, capture_output=True).returncode == 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="comma-separated mutation names")
    ap.add_argument("--full", action="store_true", help="run the whole suite per mutation")
    args = ap.parse_args()
    chosen = [m for m in MUTATIONS if not args.only or m.name in args.only.split(",")]
    alive = []
    for m in chosen:
        ok = survives(m, args.full)
        alive += [m.name] if ok else []
        print(f"{m.name:24s} {'SURVIVED' if ok else 'caught'}", flush=True)
    print(f"{len(chosen) - len(alive)} of {len(chosen)} mutations caught")
    return 1 if alive else 0


if __name__ == "__main__":
    sys.exit(main())
