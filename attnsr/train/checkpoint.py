"""Training checkpoints: one folder per save, written atomically, the last N kept plus the best.

Layout (``<output_dir>/checkpoints/``)::

    iter_00001000/  generator.safetensors  [ema.safetensors] [discriminator.safetensors]
                    state.pt   (plain data: optimisers, scalers, RNG states, iteration, best, config)
                    config.yaml (the resolved config)
    best_00000800/  same content, the checkpoint with the highest validation PSNR so far

Weights use our safetensors format (:func:`attnsr.models.save_model`), so a generator file loads with
:func:`attnsr.models.load_model` for inference. ``state.pt`` holds only tensors and plain containers and
is read with ``torch.load(weights_only=True)``. A save is written into a hidden temporary folder, flushed
to disk and then renamed: a process killed while saving leaves a ``.tmp-*`` folder that is ignored and
removed later, never a half-written ``iter_*`` folder.
"""

from __future__ import annotations

import os
import random
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from attnsr.errors import CheckpointError
from attnsr.models.checkpoint import read_checkpoint, save_model

STATE_FORMAT = "attnsr-train-1"
_ITER_RE = re.compile(r"^iter_(\d+)$")
_BEST_RE = re.compile(r"^best_(\d+)$")


def seed_all(seed: int) -> None:
    """Seed every RNG of :func:`rng_state` from ``seed`` (a fresh run starts from the same states)."""
    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)
    random.seed(seed)


def rng_state() -> dict[str, Any]:
    """Every RNG state a run may touch: torch CPU, every CUDA device, NumPy and Python ``random``."""
    kind, keys, pos, has_gauss, gauss = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state())
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": random.getstate(),
    }


def set_rng_state(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))


def _fsync_tree(folder: Path) -> None:
    for f in folder.iterdir():
        with open(f, "rb") as fh:
            os.fsync(fh.fileno())
    _fsync_dir(folder)


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def checkpoint_root(output_dir: str | os.PathLike[str]) -> Path:
    return Path(output_dir) / "checkpoints"


def list_checkpoints(output_dir: str | os.PathLike[str]) -> list[tuple[int, Path]]:
    """Complete ``iter_*`` checkpoints of a run, oldest first."""
    root = checkpoint_root(output_dir)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if (m := _ITER_RE.match(p.name)) and p.is_dir()]
    return sorted(found)


def find_latest(output_dir: str | os.PathLike[str]) -> Path | None:
    """The newest complete checkpoint folder of the run in ``output_dir`` (None if there is none)."""
    found = list_checkpoints(output_dir)
    return found[-1][1] if found else None


def save_checkpoint(output_dir: str | os.PathLike[str], iteration: int, *, models: Mapping[str, nn.Module],
                    state: Mapping[str, Any], config_text: str, keep_last: int, is_best: bool = False) -> Path:
    """Write checkpoint ``iter_<iteration>`` atomically, prune to the last ``keep_last``, update best."""
    root = checkpoint_root(output_dir)
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"iter_{iteration:08d}"
    tmp = root / f".tmp-{final.name}-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    for name, module in models.items():
        save_model(module, tmp / f"{name}.safetensors", extra={"iteration": str(iteration)})
    torch.save(dict(state, format=STATE_FORMAT, iteration=iteration), tmp / "state.pt")
    (tmp / "config.yaml").write_text(config_text, encoding="utf-8")
    _fsync_tree(tmp)
    if final.exists():  # re-saving the same iteration (e.g. after a resume): replace it
        shutil.rmtree(final)
    os.rename(tmp, final)
    _fsync_dir(root)
    if is_best:
        _replace_best(root, final, iteration)
    _prune(root, keep_last)
    return final


def _replace_best(root: Path, source: Path, iteration: int) -> None:
    tmp = root / f".tmp-best-{os.getpid()}"
    if tmp.exists():
        shutil.rmtree(tmp)
    shutil.copytree(source, tmp)
    _fsync_tree(tmp)
    target = root / f"best_{iteration:08d}"
    if target.exists():
        shutil.rmtree(target)
    os.rename(tmp, target)
    _fsync_dir(root)
    for p in root.iterdir():  # older bests go only after the new one is in place
        if _BEST_RE.match(p.name) and p != target:
            shutil.rmtree(p, ignore_errors=True)


def _prune(root: Path, keep_last: int) -> None:
    found = sorted((int(m.group(1)), p) for p in root.iterdir() if (m := _ITER_RE.match(p.name)))
    for _, p in found[:-keep_last]:
        shutil.rmtree(p, ignore_errors=True)
    for p in root.iterdir():
        if p.name.startswith(".tmp-") and not p.name.endswith(f"-{os.getpid()}"):
            shutil.rmtree(p, ignore_errors=True)  # left by a killed save


def resolve(path: str | os.PathLike[str]) -> Path:
    """A checkpoint folder from a folder, its ``state.pt``, or a run's output folder (its latest)."""
    p = Path(path)
    if p.is_file() and p.name == "state.pt":
        p = p.parent
    if p.is_dir() and (p / "state.pt").is_file():
        return p
    if p.is_dir():
        latest = find_latest(p)
        if latest is not None:
            return latest
    raise CheckpointError(f"{p}: not a training checkpoint (expected a folder with state.pt, or a run folder "
                          "with checkpoints/iter_*)")


def load_state(folder: Path) -> dict[str, Any]:
    """Read ``state.pt`` safely (weights_only) and check its format tag."""
    path = folder / "state.pt"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CheckpointError(f"{path}: cannot read training state ({type(exc).__name__}: {exc})") from exc
    if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{path}: not an attnsr training state (no {STATE_FORMAT!r} tag)")
    return state


def load_weights(folder: Path, name: str, module: nn.Module) -> None:
    """Strictly load ``<folder>/<name>.safetensors`` into ``module``."""
    path = folder / f"{name}.safetensors"
    tensors, _ = read_checkpoint(path)
    try:
        module.load_state_dict(tensors, strict=True)
    except RuntimeError as exc:
        raise CheckpointError(f"{path}: does not fit the {name} network ({str(exc).splitlines()[0]})") from exc
