"""Process and device memory: glibc's allocator tuning for tiled inference, the memory free on a device,
and the choice of device from a user's name for it."""

from __future__ import annotations

import os

import torch

from attnsr.errors import ConfigError

#: glibc mallopt parameters (malloc.h) and the values :func:`keep_freed_memory` sets
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
KEEP_FREED_BYTES = 512 << 20


def keep_freed_memory() -> bool:
    """Let glibc keep freed activation buffers for reuse instead of unmapping them (process-wide).

    Each tile allocates and frees tens of MB of activations; by default glibc serves such blocks with
    fresh mmaps, so every tile pays page faults again (1000×1000 ×2 on 2 cores: 5.0 s of kernel time,
    0.8 s with this; docs/benchmarks.md). Blocks up to :data:`KEEP_FREED_BYTES` then come from the heap and
    up to that much free memory is kept. Called by the command-line tools, not on import. Returns False
    (and changes nothing) where the C library is not glibc.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, KEEP_FREED_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, KEEP_FREED_BYTES))


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when available, else CPU; otherwise the named device, which must exist here
    (ConfigError otherwise, instead of torch's failure at the first tensor)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise ConfigError(f"device {name!r}: not a device name; use auto, cpu, cuda or cuda:<n>") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r}: CUDA is not available on this machine (torch "
                              f"{torch.__version__}); use cpu or auto")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ConfigError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif device.type not in ("cpu", "mps", "xpu"):
        raise ConfigError(f"device {name!r}: unsupported device type; use auto, cpu, cuda or cuda:<n>")
    return device


def available_memory(device: torch.device) -> int:
    """Bytes that may be used on ``device`` now (CUDA: free memory; CPU: MemAvailable)."""
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_AVPHYS_PAGES"))
