"""Atomic file writing: the one way attnsr writes outputs (images, weights, HDF5, ONNX).

Data goes to a temporary file beside the target, which is renamed over the target only when writing
succeeded, so an interrupted or failed run never leaves a half-written file and never destroys the
previous good one.
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@functools.cache
def _file_mode() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target`` to write to; on success it replaces ``target`` (with the
    permissions a plainly created file would get), on any exception it is removed."""
    final = Path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _file_mode())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
