"""CPU thread defaults that stay fast when the cores are busy (no torch import here).

torch's defaults take one intra-op thread per core and OpenMP keeps idle threads spinning for a while
before they sleep. On a machine whose cores are already busy (a 2-core box running another job), the
threads then wait for each other's time slices at every one of a training step's many short parallel
regions: ``configs/defian/cpu_x2.yaml`` ran 9x slower with torch's defaults than with one thread next to
another 2-thread job (benchmarks/threads.py; up to ~100x in other measurements). So attnsr's command line

* sets ``OMP_WAIT_POLICY=PASSIVE`` (idle OpenMP threads sleep instead of spinning) for ``attnsr train``
  before torch starts, unless the variable is already set (upscaling, whose parallel regions are long,
  measured faster with spinning threads in the same run, so it keeps OpenMP's default);
* uses :func:`default_threads` for ``--threads 0`` / ``threads: 0``: the cores this process may use
  minus the ones other processes keep busy (the 1-minute load average), at least 1.

``ATTNSR_THREAD_DEFAULTS=torch`` leaves both to torch and OpenMP (to measure the difference).
"""

from __future__ import annotations

import math
import os


def _legacy() -> bool:
    return os.environ.get("ATTNSR_THREAD_DEFAULTS", "") == "torch"


def set_wait_policy() -> None:
    """``OMP_WAIT_POLICY=PASSIVE`` unless set; effective only before the OpenMP runtime starts (before
    torch is imported), which is why the CLI calls it first."""
    if not _legacy():
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def default_threads(load: float | None = None, cores: int | None = None) -> int:
    """Intra-op threads for a CPU job: the usable cores not kept busy by others, at least 1.

    ``load``: the 1-minute load average (read from the system when None); ``cores``: usable cores.
    A load of 0.3 on 2 cores gives 2 threads, 1.0 gives 1, 4.0 gives 1."""
    cores = usable_cores() if cores is None else cores
    if load is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            return cores
    idle = math.floor(cores - load + 0.5)
    return max(1, min(cores, idle))


def apply_default_threads(requested: int) -> int:
    """Set torch's intra-op threads: ``requested`` when > 0, else :func:`default_threads` (unless
    ATTNSR_THREAD_DEFAULTS=torch, or OMP_NUM_THREADS is set: the user's choice). Returns the count used."""
    import torch

    if requested > 0:
        torch.set_num_threads(requested)
    elif not _legacy() and "OMP_NUM_THREADS" not in os.environ:
        torch.set_num_threads(default_threads())
    return torch.get_num_threads()
