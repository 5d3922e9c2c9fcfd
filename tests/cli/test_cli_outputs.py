"""Outputs that cannot destroy or collide: inputs are never replaced, names never clash silently,
leftovers of killed writes are cleaned up, and every writing command refuses to overwrite by default."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attnsr.cli.main import main
from attnsr.image.io import load_image

BICUBIC = ["--model", "bicubic", "--quiet"]


def _img(path: Path, value: int = 90, size: tuple[int, int] = (6, 5), mode: str = "RGB") -> Path:
    channels = {"RGB": 3, "RGBA": 4}[mode]
    a = np.full((size[0], size[1], channels), value, np.uint8)
    if mode == "RGBA":
        a[..., 3] = 128
    Image.fromarray(a, mode).save(path)
    return path


def test_output_equal_to_the_input_is_refused_even_with_overwrite(tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture) -> None:
    src = _img(tmp_path / "same.png")
    before = src.read_bytes()
    assert main(["upscale", str(src), "-o", str(src), "--overwrite", *BICUBIC]) == 2
    assert "is one of the inputs" in capsys.readouterr().err
    assert src.read_bytes() == before


def test_output_folder_that_is_an_input_folder_does_not_reingest(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    _img(folder / "a.png")
    assert main(["upscale", str(folder), "-o", str(folder), *BICUBIC]) == 0
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "a_x2.png"]
    capsys.readouterr()
    assert main(["upscale", str(folder), "-o", str(folder), "--skip-existing", "--model", "bicubic"]) == 0
    err = capsys.readouterr().err
    assert "left out" in err
    assert sorted(p.name for p in folder.iterdir()) == ["a.png", "a_x2.png"]  # no a_x2_x2.png


@pytest.mark.parametrize("target", ["x.gif", "x.v2"])
def test_output_file_with_unwritable_suffix_is_an_error_not_a_folder(tmp_path: Path, target: str,
                                                                    capsys: pytest.CaptureFixture) -> None:
    src = _img(tmp_path / "a.png")
    assert main(["upscale", str(src), "-o", str(tmp_path / target), *BICUBIC]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "unsupported output format" in err
    assert not (tmp_path / target).exists()


def test_a_file_name_with_several_inputs_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    a, b = _img(tmp_path / "a.png"), _img(tmp_path / "b.png")
    assert main(["upscale", str(a), str(b), "-o", str(tmp_path / "out.png"), *BICUBIC]) == 2
    assert "names one file but 2 inputs" in capsys.readouterr().err
    assert not (tmp_path / "out.png").exists()


def test_same_stem_different_formats_do_not_collide(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    _img(tmp_path / "img.webp", 40)
    _img(tmp_path / "img.tif", 200)
    out = tmp_path / "out"
    assert main(["upscale", str(tmp_path / "img.webp"), str(tmp_path / "img.tif"), "-o", str(out),
                 "--model", "bicubic", "--ext", "png"]) == 0
    assert "same name" in capsys.readouterr().err
    webp, tif = load_image(out / "img-webp_x2.png"), load_image(out / "img-tif_x2.png")
    assert abs(webp.rgb.mean().item() - 40 / 255) < 0.02 and abs(tif.rgb.mean().item() - 200 / 255) < 0.02


def test_dropped_frames_and_dropped_alpha_are_announced(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    gif = tmp_path / "anim.gif"
    frames = [Image.new("RGB", (6, 6), (v, v, v)) for v in (10, 200, 90)]
    frames[0].save(gif, save_all=True, append_images=frames[1:])
    assert main(["upscale", str(gif), "-o", str(tmp_path / "anim.png"), "--model", "bicubic"]) == 0
    assert "3 frames" in capsys.readouterr().err
    rgba = _img(tmp_path / "t.png", mode="RGBA")
    assert main(["upscale", str(rgba), "-o", str(tmp_path / "t.jpg"), "--model", "bicubic"]) == 0
    assert "no alpha channel" in capsys.readouterr().err


def test_unwritable_output_folder_fails_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    if os.geteuid() == 0:
        target = Path("/proc/attnsr-not-writable")  # root bypasses permission bits; /proc refuses anyone
    else:
        target = tmp_path / "ro"
        target.mkdir()
        target.chmod(0o500)
    src = _img(tmp_path / "a.png")
    assert main(["upscale", str(src), "-o", str(target), *BICUBIC]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not writable" in err


def test_stale_temp_files_of_a_killed_write_are_removed(tmp_path: Path) -> None:
    src = _img(tmp_path / "a.png")
    out = tmp_path / "out"
    out.mkdir()
    stale = out / ".a_x2.png.k3j4h5.tmp"
    stale.write_bytes(b"half a png")
    other = out / ".b_x2.png.zzz.tmp"  # another target's: not ours to remove
    other.write_bytes(b"x")
    assert main(["upscale", str(src), "-o", str(out), *BICUBIC]) == 0
    assert not stale.exists() and other.exists()
    assert load_image(out / "a_x2.png").rgb.shape == (3, 12, 10)


def test_convert_and_prepare_h5_refuse_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from attnsr.models import create

    net = create("rcan", scale=2, n_resgroups=1, n_resblocks=1, n_feats=8, reduction=4)
    pth = tmp_path / "rcan.pth"
    torch.save(net.state_dict(), pth)
    out = tmp_path / "rcan.safetensors"
    out.write_bytes(b"keep")
    assert main(["convert", str(pth), "-o", str(out)]) == 2
    assert "exists" in capsys.readouterr().err and out.read_bytes() == b"keep"
    assert main(["convert", str(pth), "-o", str(out), "--overwrite"]) == 0
    assert out.read_bytes() != b"keep"
    hr = tmp_path / "hr"
    hr.mkdir()
    _img(hr / "a.png", size=(12, 12))
    h5 = tmp_path / "t.h5"
    h5.write_bytes(b"keep")
    assert main(["prepare-h5", str(hr), str(h5), "--scales", "2"]) == 2
    assert "exists" in capsys.readouterr().err and h5.read_bytes() == b"keep"
    assert main(["prepare-h5", str(hr), str(h5), "--scales", "2", "--overwrite"]) == 0
    assert h5.read_bytes() != b"keep"
