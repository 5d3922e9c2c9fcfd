"""`attnsr compare`: the zoomed-crop figure (size, panels, captions) from a tiny saved network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from attnsr.cli.compare import MIN_PANEL_WIDTH, parse_crop, parse_models, zoom_crop
from attnsr.cli.main import main
from attnsr.errors import ConfigError
from attnsr.image.io import from_uint8, save_image
from attnsr.infer.figures import CAPTION_HEIGHT, GAP


@pytest.fixture()
def hr_image(tmp_path):
    rng = np.random.default_rng(3)
    smooth = np.cumsum(np.cumsum(rng.normal(0, 1, (66, 70, 3)), 0), 1)
    a = ((smooth - smooth.min()) / np.ptp(smooth) * 255).astype(np.uint8)
    path = tmp_path / "hr.png"
    save_image(path, from_uint8(a))
    return path


@pytest.fixture()
def tiny_weights(tmp_path):
    from attnsr.models import create, save_model

    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    save_model(create("rcan", scale=2, n_resgroups=1, n_resblocks=1, n_feats=8, reduction=4), path)
    return path


def test_compare_writes_png_of_expected_size(hr_image, tiny_weights, tmp_path, capsys):
    out = tmp_path / "fig.png"
    assert main(["compare", str(hr_image), "--models", f"bicubic,rcan={tiny_weights},{tiny_weights}",
                 "--crop", "10,8,20,16", "--scale", "2", "--zoom", "11", "-o", str(out), "--tile", "0",
                 "--device", "cpu"]) == 0
    panels = 4  # HR, bicubic (listed once), rcan=..., the bare checkpoint
    w, h = 20 * 11, 16 * 11
    assert Image.open(out).size == (panels * w + (panels - 1) * GAP, h + CAPTION_HEIGHT)
    lines = capsys.readouterr().out.splitlines()
    assert [ln.split(":")[0] for ln in lines] == ["bicubic", "rcan", "tiny"]
    bic_psnr, net_psnr = (float(ln.split(": ")[1].split(" dB")[0]) for ln in lines[:2])
    assert bic_psnr > net_psnr  # the random network is worse than bicubic
    assert all(("LPIPS n/a" in ln) or ("LPIPS 0." in ln) for ln in lines)
    # the HR panel is the crop itself, pixel-repeated
    fig = np.asarray(Image.open(out))
    hr = np.asarray(Image.open(hr_image))
    assert np.array_equal(fig[:h:11, :w:11], hr[8:24, 10:30])


def test_compare_default_zoom_and_lpips_na_without_assets(hr_image, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty"))
    out = tmp_path / "fig.png"
    assert main(["compare", str(hr_image), "--models", "bicubic", "--crop", "0,0,40,30", "--scale", "2",
                 "-o", str(out)]) == 0
    zoom = -(-MIN_PANEL_WIDTH // 40)
    assert Image.open(out).size == (2 * 40 * zoom + GAP, 30 * zoom + CAPTION_HEIGHT)
    assert "LPIPS n/a" in capsys.readouterr().out


def test_compare_bad_arguments(hr_image, tmp_path):
    with pytest.raises(ConfigError, match="outside"):
        parse_crop("60,0,20,20", 66, 70)
    with pytest.raises(ConfigError, match="x,y,w,h"):
        parse_crop("1,2,3", 66, 70)
    assert [s.label for s in parse_models("bicubic, a=w.pth")] == ["bicubic", "a"]
    assert main(["compare", str(hr_image), "--models", "rcan", "--crop", "0,0,8,8", "--scale", "2",
                 "-o", str(tmp_path / "x.png")]) == 2  # a registry network needs weights
    crop = zoom_crop(torch.zeros(3, 10, 10), (2, 3, 4, 5), 3)
    assert crop.shape == (15, 12, 3) and crop.dtype == np.uint8


def test_compare_lr_mode_shows_the_input_and_each_upscale_of_one_region(hr_image, tiny_weights, tmp_path, capsys):
    """--lr: the image is the input itself; panels are input (repeated by scale x zoom), bicubic and the
    model at the same region, with the labels only (no ground truth, no score)."""
    from attnsr.evaluation import bicubic_method
    from attnsr.image.io import load_image, to_uint8

    out = tmp_path / "real.png"
    assert main(["compare", str(hr_image), "--lr", "--models", f"rcan={tiny_weights}", "--crop", "4,6,12,10",
                 "--scale", "2", "--zoom", "5", "-o", str(out), "--tile", "0", "--device", "cpu"]) == 0
    w, h = 12 * 2 * 5, 10 * 2 * 5
    fig = np.asarray(Image.open(out))
    assert fig.shape[:2] == (h + CAPTION_HEIGHT, 3 * w + 2 * GAP)
    lr = np.asarray(Image.open(hr_image))
    assert np.array_equal(fig[:h:10, :w:10], lr[6:16, 4:16])
    bicubic = to_uint8(bicubic_method(2)(load_image(hr_image).rgb[None])[0])
    assert np.array_equal(fig[:h:5, w + GAP:2 * w + GAP:5], bicubic[12:32, 8:32])
    assert capsys.readouterr().out == ""
    assert main(["compare", str(hr_image), "--lr", "--models", "bicubic", "--crop", "60,0,20,10",
                 "--scale", "2", "-o", str(out)]) == 2
    assert "outside the image (70x66 pixels)" in capsys.readouterr().err
    assert main(["compare", str(hr_image), "--lr", "--models", "bicubic", "--crop", "0,0,8,8", "--scale", "2",
                 "--degradation", "realistic", "-o", str(out)]) == 2
    assert "--degradation: not with --lr" in capsys.readouterr().err
