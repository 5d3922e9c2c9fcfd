"""``attnsr score``: existing SR files scored against HR give the numbers ``attnsr eval`` gave when it
made them (``--save-images``); names with the usual suffixes match; size mismatches are explained."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from attnsr.cli.main import main
from attnsr.image.io import from_uint8, read_rgb, save_image
from attnsr.image.resize import modcrop
from attnsr.scoring import explain_size, match_files, scale_from_names


@pytest.fixture()
def hr_set(tiny_set: Path) -> Path:
    """The shared tiny colour set plus one grayscale file."""
    folder = tiny_set
    rng = np.random.default_rng(1)
    gray = (np.linspace(0, 255, 40 * 45).reshape(40, 45) + rng.normal(0, 9, (40, 45))).clip(0, 255)
    save_image(folder / "gray.png", from_uint8(gray.astype(np.uint8)), gray=True)
    return folder


def _records(path: Path) -> dict[str, dict]:
    return {r["name"]: r for r in json.loads(path.read_text())["images"]}


def test_score_equals_eval_on_its_saved_images(hr_set: Path, tmp_path: Path, capsys) -> None:
    saved, ev, sc = tmp_path / "saved", tmp_path / "eval.json", tmp_path / "score.json"
    assert main(["eval", "--dataset", str(hr_set), "--scale", "3", "--metrics", "psnr,ssim,psnr_rgb",
                 "--save-images", str(saved), "--json", str(ev), "--no-progress"]) == 0
    renamed = tmp_path / "released"
    renamed.mkdir()
    for p in (saved / "Tiny" / "x3").iterdir():  # as other methods name their outputs
        shutil.copy(p, renamed / f"{p.stem}_x3_SR.png")
    capsys.readouterr()
    out_csv = tmp_path / "s.csv"
    assert main(["score", "--sr", str(renamed), "--hr", str(hr_set), "--metrics", "psnr,ssim,psnr_rgb",
                 "--json", str(sc), "--csv", str(out_csv), "--no-progress"]) == 0  # scale from the names
    table = capsys.readouterr().out
    a, b = _records(ev), _records(sc)
    assert set(a) == set(b) == {"im0.png", "im1.png", "gray.png"}
    for name in a:
        for key in ("psnr_y", "ssim_y", "psnr_rgb"):
            assert b[name][key] == a[name][key], (name, key)
    data = json.loads(sc.read_text())
    assert data["scale"] == 3 and data["psnr_y"] == json.loads(ev.read_text())["psnr_y"]
    assert "| Tiny |" in table and len(list(csv.DictReader(out_csv.open()))) == 3


def test_size_mismatch_is_explained_per_file_and_others_still_scored(hr_set: Path, tmp_path: Path,
                                                                    capsys) -> None:
    sr_dir = tmp_path / "sr"
    hr0 = read_rgb(hr_set / "im0.png")  # 50x37: modcrop x4 -> 48x36
    save_image(sr_dir / "im0_x4.png", hr0)  # un-cropped HR size
    save_image(sr_dir / "im1_x4.png", modcrop(read_rgb(hr_set / "im1.png"), 4))
    save_image(sr_dir / "gray_x4.png", modcrop(read_rgb(hr_set / "gray.png"), 4)[:, ::4, ::4])  # an LR
    rc = main(["score", "--sr", str(sr_dir), "--hr", str(hr_set), "--scale", "4", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "im0_x4.png: SR is 37x50 (WxH) but the HR 37x50, modcropped to a multiple of 4" in err
    assert "--modcrop-sr" in err and "LR size (HR/4)" in err
    assert main(["score", "--sr", str(sr_dir), "--hr", str(hr_set), "--scale", "4", "--modcrop-sr",
                 "--no-progress", "--json", str(tmp_path / "j.json")]) == 1
    assert set(_records(tmp_path / "j.json")) == {"im0.png", "im1.png"}


def test_matching_rules() -> None:
    hr = [Path(f"{n}.png") for n in ("img_1", "img_10", "baboon")]
    sr = [Path(n) for n in ("img_1_x4_SR.png", "img_10x4.png", "img_10-rlt.png", "baboon_EDSR_x4.png",
                            "zebra.png")]
    m = match_files(sr, hr, suffix="_EDSR")
    assert [(a.name, b.name) for a, b in m.pairs] == [("img_1_x4_SR.png", "img_1.png"),
                                                      ("baboon_EDSR_x4.png", "baboon.png")]
    reasons = dict(m.unmatched)
    assert "several SR files match" in reasons["img_10.png"] and "no HR file" in reasons["zebra.png"]
    assert scale_from_names([Path("a_x4_SR.png"), Path("b.png")]) == 4
    assert scale_from_names([Path("a_x4.png"), Path("b_x2.png")]) is None
    assert "is --scale right?" in explain_size((50, 36), (50, 37), 3)
