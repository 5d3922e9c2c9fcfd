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


@pytest.fixture()
def tiny_set(tmp_path):
    folder = tmp_path / "Tiny" / "HR"
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(50, 37), (41, 44)]):
        smooth = np.cumsum(np.cumsum(rng.normal(0, 1, (h, w, 3)), 0), 1)
        a = ((smooth - smooth.min()) / np.ptp(smooth) * 255).astype(np.uint8)
        save_image(folder / f"im{i}.png", from_uint8(a))
    return folder


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
