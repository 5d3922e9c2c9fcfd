"""`attnsr eval` end to end on small synthetic folders, and the bicubic baseline against RCAN's table."""

from __future__ import annotations

import csv
import json
import time

import numpy as np
import pytest
import torch

from attnsr.cli.main import main
from attnsr.evaluation import EvalSettings, bicubic_method, evaluate_dataset
from attnsr.image.degrade import degrade
from attnsr.image.io import from_uint8, save_image
from attnsr.image.resize import modcrop
from attnsr.metrics import psnr, ssim


def test_eval_json_matches_direct_computation(tiny_set, tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["eval", "--model", "bicubic", "--dataset", str(tiny_set), "--scale", "3", "--json", str(out),
                 "--no-progress"]) == 0
    data = json.loads(out.read_text())
    assert data["dataset"] == "Tiny" and data["scale"] == 3 and len(data["images"]) == 2
    from attnsr.image.io import read_rgb
    hr = modcrop(read_rgb(tiny_set / "im1.png"), 3)
    sr = bicubic_method(3)(degrade(hr, 3)[None])[0]
    rec = {r["name"]: r for r in data["images"]}["im1.png"]
    assert rec["psnr_y"] == pytest.approx(psnr(sr, hr, crop_border=3), abs=1e-9)
    assert rec["ssim_y"] == pytest.approx(ssim(sr, hr, crop_border=3), abs=1e-12)
    assert data["psnr_y"] == pytest.approx(np.mean([r["psnr_y"] for r in data["images"]]))
    assert "| Tiny |" in capsys.readouterr().out


def test_several_scales_table_csv_images_and_failures(tiny_set, tmp_path, capsys):
    (tiny_set / "broken.png").write_text("not a png")
    csv_path, saved = tmp_path / "r.csv", tmp_path / "sr"
    rc = main(["eval", "--dataset", str(tiny_set), "--scale", "2", "--scale", "4", "--csv", str(csv_path),
               "--save-images", str(saved), "--degradation", "BD", "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 1 and "broken.png" in captured.err
    assert "| x2 | x4 |" in captured.out
    rows = list(csv.DictReader(csv_path.open()))
    assert sorted((r["scale"], r["name"]) for r in rows) == [("2", "im0.png"), ("2", "im1.png"),
                                                             ("4", "im0.png"), ("4", "im1.png")]
    assert (saved / "Tiny" / "x4" / "im0.png").is_file()


def test_lr_dir_and_bad_options(tiny_set, tmp_path):
    lr_dir = tmp_path / "lr"
    from attnsr.image.io import read_rgb
    for name in ("im0", "im1"):
        save_image(lr_dir / f"{name}x2.png", degrade(modcrop(read_rgb(tiny_set / f"{name}.png"), 2), 2))
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    assert main(["eval", "--dataset", str(tiny_set), "--scale", "2", "--lr-dir", str(lr_dir), "--json", str(a),
                 "--no-progress"]) == 0
    assert main(["eval", "--dataset", str(tiny_set), "--scale", "2", "--json", str(b), "--no-progress"]) == 0
    assert json.loads(a.read_text())["psnr_y"] == json.loads(b.read_text())["psnr_y"]
    assert main(["eval", "--model", "nope", "--dataset", str(tiny_set), "--scale", "2"]) == 2
    assert main(["eval", "--metrics", "psnr,foo", "--dataset", str(tiny_set), "--scale", "2"]) == 2


# RCAN (ECCV 2018) Table 3, "Bicubic" rows: (PSNR, SSIM) on Y, shave = scale
RCAN_BICUBIC = {
    ("Set5", 2): (33.66, 0.9299), ("Set5", 3): (30.39, 0.8682), ("Set5", 4): (28.42, 0.8104),
    ("Set14", 2): (30.24, 0.8688), ("Set14", 3): (27.55, 0.7742), ("Set14", 4): (26.00, 0.7027),
    ("B100", 2): (29.56, 0.8431), ("B100", 3): (27.21, 0.7385), ("B100", 4): (25.96, 0.6675),
}


def _check_published(shared, dataset: str, scale: int) -> float:
    start = time.process_time()
    result = evaluate_dataset(bicubic_method(scale), shared / "datasets" / dataset, scale,
                              EvalSettings(progress=False))
    seconds = time.process_time() - start
    want_psnr, want_ssim = RCAN_BICUBIC[(dataset, scale)]
    assert not result.failures
    assert abs(result.means["psnr_y"] - want_psnr) <= 0.03, result.means
    assert abs(result.means["ssim_y"] - want_ssim) <= 0.001, result.means
    return seconds


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bicubic_matches_rcan_table_set5(shared, scale):
    torch.set_num_threads(1)
    _check_published(shared, "Set5", scale)


@pytest.mark.slow
@pytest.mark.parametrize("dataset,scale", [("Set14", 2), ("Set14", 3), ("Set14", 4), ("B100", 2), ("B100", 3),
                                           ("B100", 4)])
def test_bicubic_matches_rcan_table_set14_b100(shared, dataset, scale):
    seconds = _check_published(shared, dataset, scale)
    if (dataset, scale) == ("B100", 4):
        assert seconds < 60, f"B100 x4 bicubic took {seconds:.1f} s of CPU"


# --------------------------------------------------------------------------- networks and perceptual metrics

TINY_RCAN = dict(n_resgroups=1, n_resblocks=1, n_feats=8, reduction=4)


@pytest.fixture()
def tiny_weights(tmp_path):
    from attnsr.models import create, save_model

    torch.manual_seed(0)
    path = tmp_path / "rcan_tiny_x2.safetensors"
    save_model(create("rcan", scale=2, **TINY_RCAN), path)
    return path


def _by_hand_sr(weights, hr_path, scale):
    """HR -> modcrop -> MATLAB-bicubic LR -> the network itself -> SR on the 8-bit grid (no engine)."""
    from attnsr.image.io import read_rgb
    from attnsr.models import load_model

    hr = modcrop(read_rgb(hr_path), scale)
    with torch.no_grad():
        sr = load_model(weights)(degrade(hr, scale)[None])[0]
    return torch.floor(sr.clamp(0, 1) * 255 + 0.5) / 255, hr


def test_eval_network_checkpoint_json_contract_and_psnr_by_hand(tiny_set, tiny_weights, tmp_path):
    out = tmp_path / "r.json"
    # no --scale: a checkpoint knows its own
    assert main(["eval", "--weights", str(tiny_weights), "--dataset", str(tiny_set), "--json", str(out),
                 "--tile", "0", "--device", "cpu", "--no-progress"]) == 0
    data = json.loads(out.read_text())
    assert {"dataset", "scale", "psnr_y", "ssim_y", "images"} <= set(data)
    assert data["dataset"] == "Tiny" and data["scale"] == 2 and data["method"] == str(tiny_weights)
    rec = {r["name"]: r for r in data["images"]}["im0.png"]
    assert set(rec) == {"name", "psnr_y", "ssim_y"}
    sr, hr = _by_hand_sr(tiny_weights, tiny_set / "im0.png", 2)
    assert rec["psnr_y"] == pytest.approx(psnr(sr, hr, crop_border=2), abs=1e-3)
    assert rec["ssim_y"] == pytest.approx(ssim(sr, hr, crop_border=2), abs=1e-4)
    # the random tiny network is far worse than bicubic: the network really ran
    bic = tmp_path / "b.json"
    assert main(["eval", "--dataset", str(tiny_set), "--scale", "2", "--json", str(bic), "--no-progress"]) == 0
    assert json.loads(bic.read_text())["psnr_y"] > data["psnr_y"] + 5


def test_eval_network_scale_mismatch_and_default_model(tiny_set, tiny_weights, capsys):
    from attnsr.infer.resolve import bundled_models

    assert main(["eval", "--model", "rcan", "--weights", str(tiny_weights), "--dataset", str(tiny_set),
                 "--scale", "4", "--no-progress"]) == 2
    assert "x2" in capsys.readouterr().err
    if bundled_models():
        pytest.skip("a bundled model ships: --model default is evaluated, not refused")
    assert main(["eval", "--model", "default", "--dataset", str(tiny_set), "--scale", "2", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "not a bundled model" in err and err.count("\n") == 1


def _lpips_installed() -> bool:
    from attnsr.assets import lpips_path

    return lpips_path("alex").is_file()


def test_eval_lpips_equals_direct_computation(tiny_set, tmp_path):
    if not _lpips_installed():
        pytest.skip("LPIPS weights not installed (run `attnsr assets install lpips`)")
    from attnsr.image.io import read_rgb
    from attnsr.metrics import LPIPSConfig, load_lpips_model

    out = tmp_path / "r.json"
    assert main(["eval", "--dataset", str(tiny_set), "--scale", "2", "--metrics", "psnr,lpips",
                 "--lpips-version", "0.0", "--json", str(out), "--no-progress"]) == 0
    data = json.loads(out.read_text())
    hr = modcrop(read_rgb(tiny_set / "im1.png"), 2)
    sr = bicubic_method(2)(degrade(hr, 2)[None])
    want = float(load_lpips_model(LPIPSConfig(net="alex", version="0.0"))(sr, hr[None])[0])
    got = {r["name"]: r for r in data["images"]}["im1.png"]["lpips"]
    assert got == pytest.approx(want, abs=1e-6) and 0 < got < 1
    assert data["lpips"] == pytest.approx(np.mean([r["lpips"] for r in data["images"]]))


def test_eval_lpips_missing_assets_names_install_command(tiny_set, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-cache"))
    assert main(["eval", "--dataset", str(tiny_set), "--scale", "2", "--metrics", "lpips", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "attnsr assets install lpips" in err and err.count("\n") == 1


def test_eval_niqe_and_pi_unavailable_with_reason(tmp_path, capsys):
    from attnsr.image.io import read_rgb
    from attnsr.metrics import niqe

    folder = tmp_path / "Big"
    rng = np.random.default_rng(1)
    smooth = np.cumsum(np.cumsum(rng.normal(0, 1, (200, 196, 3)), 0), 1)
    texture = rng.integers(0, 40, (200, 196, 3))
    a = np.clip((smooth - smooth.min()) / np.ptp(smooth) * 215 + texture, 0, 255).astype(np.uint8)
    save_image(folder / "big.png", from_uint8(a))
    out = tmp_path / "r.json"
    assert main(["eval", "--dataset", str(folder), "--scale", "2", "--metrics", "psnr,niqe,pi",
                 "--json", str(out), "--no-progress"]) == 0
    data = json.loads(out.read_text())
    hr = modcrop(read_rgb(folder / "big.png"), 2)
    sr = bicubic_method(2)(degrade(hr, 2)[None])
    assert data["niqe"] == pytest.approx(float(niqe(sr, crop_border=2)[0]), abs=1e-9)
    assert data["pi"] is None and data["images"][0]["pi"] is None
    assert "--nrqm-model" in data["unavailable"]["pi"]
    table = capsys.readouterr().out
    assert "/ n/a |" in table and "PI n/a: " in table
    model_file = tmp_path / "nrqm.mat"
    model_file.write_bytes(b"\0")  # not a .mat file: a one-line error naming it, before any scoring
    assert main(["eval", "--dataset", str(folder), "--scale", "2", "--metrics", "pi", "--nrqm-model",
                 str(model_file), "--json", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert str(model_file) in err and err.count("\n") == 1
    assert main(["eval", "--dataset", str(folder), "--scale", "2", "--metrics", "pi", "--nrqm-model",
                 str(tmp_path / "missing.mat"), "--no-progress"]) == 2


def test_spectrum_bicubic_writes_csv_png_and_loses_high_band(tiny_set, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    folder = tmp_path / "spec"
    out = tmp_path / "r.json"
    assert main(["eval", "--dataset", str(tiny_set), "--scale", "2", "--spectrum", str(folder),
                 "--json", str(out), "--no-progress"]) == 0
    assert (folder / "Tiny_x2.png").stat().st_size > 0 and (folder / "Tiny_x2_profile.csv").is_file()
    rows = {r["band"]: r for r in csv.DictReader((folder / "Tiny_x2.csv").open())}
    assert set(rows) == {"low", "mid", "high"}
    low, high = float(rows["low"]["recovered"]), float(rows["high"]["recovered"])
    assert 0.9 < low <= 1 and high < low  # bicubic keeps the low band, loses detail
    assert json.loads(out.read_text())["spectrum"]["low"]["recovered"] == pytest.approx(low)
    assert "energy recovered" in capsys.readouterr().out


def test_spectrum_self_vs_self_recovers_everything(tiny_set):
    from attnsr.image.io import read_rgb

    hr = modcrop(read_rgb(tiny_set / "im0.png"), 2)[None]
    one = tiny_set.parent / "One"
    save_image(one / "im0.png", hr[0])
    result = evaluate_dataset(lambda lr: hr, one, 2, EvalSettings(spectrum=True, progress=False))
    assert result.spectrum is not None
    assert result.spectrum.recovered.tolist() == [1.0, 1.0, 1.0]
    assert result.means["psnr_y"] == float("inf") or result.means["psnr_y"] > 99
