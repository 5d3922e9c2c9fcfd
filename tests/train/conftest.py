"""Fixtures for the trainer tests: random VGG19 weights in torchvision's layout, small run overrides."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> None:
    # The test machine's 2 cores are shared by many processes: 2 OpenMP threads then spin against each
    # other and a tiny step takes 20x longer. One thread is fast and deterministic.
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def random_vgg(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A torchvision-layout VGG19 ``features`` state dict with random weights (real ones cannot be downloaded)."""
    from attnsr.train.losses import VGG19Features

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("vgg") / "vgg19_random.pth"
    torch.save(VGG19Features().state_dict(), path)
    return path
