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
    permissions a plainly created file would get), on any exception it is removed.

    Temporary files of an earlier write of the same target that was killed before it could clean up
    (``.<name>.*.tmp``) are removed first."""
    final = Path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(final)
    fd, name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        os.chmod(tmp, _file_mode())
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def remove_stale(target: str | os.PathLike[str]) -> int:
    """Delete the temporary files that an interrupted :func:`atomic_path` write of ``target`` left
    behind; returns how many. Only plain files named like ours (``.<name>.<random>.tmp``) are touched."""
    final = Path(target)
    removed = 0
    try:
        candidates = list(final.parent.glob(f".{glob_escape(final.name)}.*.tmp"))
    except OSError:
        return 0
    for stale in candidates:
        if stale.is_file() and not stale.is_symlink():
            try:
                stale.unlink()
                removed += 1
            except OSError:
                pass
    return removed


def glob_escape(name: str) -> str:
    """``name`` with glob metacharacters made literal."""
    import glob

    return glob.escape(name)
