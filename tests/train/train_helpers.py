"""Helpers shared by the trainer tests (a uniquely named module: ``conftest`` names collide)."""

from __future__ import annotations

from pathlib import Path


def quick_overrides(shared: Path, out: Path, iterations: int = 2, **extra: object) -> list[str]:
    """--set assignments that shrink a CPU recipe to a few iterations of tiny batches without workers."""
    sets = {
        "output_dir": str(out), "iterations": iterations, "progress": False, "log_every": 1,
        "save_every": 1000, "data.hr_dir": str(shared / "datasets" / "T91"), "data.batch_size": 2,
        "data.num_workers": 0, "data.cache": False, "val.hr_dir": "",
    }
    sets.update(extra)
    return [f"{k}={v}" for k, v in sets.items()]
