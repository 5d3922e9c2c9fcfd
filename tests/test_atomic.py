"""Atomic writes: a failure keeps the previous file and leaves no temp file; success gives normal permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from attnsr.atomic import atomic_path


def test_failure_keeps_previous_file_and_cleans_up(tmp_path: Path) -> None:
    target = tmp_path / "out.bin"
    target.write_bytes(b"good")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("interrupted")
    assert target.read_bytes() == b"good"
    assert list(tmp_path.iterdir()) == [target]


def test_success_replaces_with_umask_permissions(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "out.bin"
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new"
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask
