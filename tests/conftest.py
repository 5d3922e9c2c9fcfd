"""Shared fixtures. ``shared`` is the one way tests reach ../shared (env var ATTNSR_SHARED)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]


def shared_dir() -> Path | None:
    """The shared data folder, or None when it is not there."""
    path = Path(os.environ.get("ATTNSR_SHARED", REPO.parent / "shared"))
    return path if path.is_dir() else None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``gpu`` need CUDA: skipped, with the reason, on a machine without it."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (marker gpu)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def shared() -> Path:
    """Path of ../shared (override with ATTNSR_SHARED); skips the test when it is absent."""
    path = shared_dir()
    if path is None:
        pytest.skip(
            "shared data not found: set ATTNSR_SHARED to the folder holding conformance/, datasets/, "
            "specs/ (default ../shared beside the checkout)"
        )
    return path


@pytest.fixture(autouse=True)
def _deterministic_threads() -> Iterator[None]:
    # One thread by default: the tests are small, and oversubscribed OpenMP on a busy 2-core machine is
    # 5-20x slower. ATTNSR_TEST_THREADS raises it.
    torch.set_num_threads(int(os.environ.get("ATTNSR_TEST_THREADS", "1")))
    yield
    # library code must not switch autograd off globally (later tests would silently break)
    assert torch.is_grad_enabled(), "this test left torch autograd disabled globally"


@pytest.fixture()
def tiny_set(tmp_path: Path) -> Path:
    """A two-image HR folder (``Tiny/HR``: 50x37 and 41x44 smooth colour images) for CLI tests."""
    import numpy as np

    from attnsr.image.io import from_uint8, save_image

    folder = tmp_path / "Tiny" / "HR"
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(50, 37), (41, 44)]):
        smooth = np.cumsum(np.cumsum(rng.normal(0, 1, (h, w, 3)), 0), 1)
        a = ((smooth - smooth.min()) / np.ptp(smooth) * 255).astype(np.uint8)
        save_image(folder / f"im{i}.png", from_uint8(a))
    return folder
