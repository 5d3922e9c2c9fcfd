"""``attnsr upscale`` end to end: formats kept, bad inputs reported per file, nothing half-written."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attnsr.cli.main import main
from attnsr.image.io import load_image


def _png(path: Path, shape: tuple[int, ...], dtype=np.uint8, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    a = (rng.random(shape) * 255).astype(dtype)
    Image.fromarray(a).save(path)
    return path


def test_batch_continues_past_bad_files_and_reports_them(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    good = _png(tmp_path / "good.png", (12, 10, 3))
    _png(tmp_path / "gray.png", (9, 7))
    _png(tmp_path / "rgba.png", (8, 8, 4))
    (tmp_path / "empty.png").write_bytes(b"")
    (tmp_path / "text.png").write_text("not an image")
    truncated = tmp_path / "trunc.png"
    truncated.write_bytes(good.read_bytes()[:60])
    out = tmp_path / "out"
    code = main(["upscale", str(tmp_path), "-o", str(out), "--model", "bicubic", "--scale", "3", "--quiet"])
    err = capsys.readouterr().err
    assert code == 1
    for name in ("empty.png", "text.png", "trunc.png"):
        assert sum(name in line for line in err.splitlines() if "error" in line) == 1, err
    assert "3 of 6 input(s) failed" in err
    assert load_image(out / "good_x3.png").rgb.shape == (3, 36, 30)
    g = load_image(out / "gray_x3.png")
    assert g.gray and g.rgb.shape == (3, 27, 21)
    a = load_image(out / "rgba_x3.png")
    assert a.alpha is not None and a.alpha.shape == (1, 24, 24)
    assert not [p for p in out.iterdir() if p.name.startswith(".")], "temp files left behind"


def test_existing_outputs_are_kept_unless_asked(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _png(tmp_path / "a.png", (6, 6, 3))
    out = tmp_path / "o"
    out.mkdir()
    (out / "a_x2.png").write_bytes(b"keep me")
    assert main(["upscale", str(src), "-o", str(out), "--model", "bicubic", "--quiet"]) == 1
    assert "exists" in capsys.readouterr().err and (out / "a_x2.png").read_bytes() == b"keep me"
    assert main(["upscale", str(src), "-o", str(out), "--model", "bicubic", "--skip-existing", "--quiet"]) == 0
    assert (out / "a_x2.png").read_bytes() == b"keep me"
    assert main(["upscale", str(src), "-o", str(out), "--model", "bicubic", "--overwrite", "--quiet"]) == 0
    assert load_image(out / "a_x2.png").rgb.shape == (3, 12, 12)


def test_single_file_output_and_16bit_kept(tmp_path: Path) -> None:
    src = tmp_path / "deep.png"
    from attnsr.image.io import save_array

    save_array(src, (np.random.default_rng(1).random((7, 9, 3)) * 65535).astype(np.uint16))
    target = tmp_path / "result.png"
    assert main(["upscale", str(src), "-o", str(target), "--model", "bicubic", "--scale", "2", "--quiet"]) == 0
    img = load_image(target)
    assert img.bit_depth == 16 and img.rgb.shape == (3, 14, 18)


def test_unknown_model_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _png(tmp_path / "a.png", (6, 6, 3))
    assert main(["upscale", str(src), "-o", str(tmp_path / "o"), "--model", "fsanet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--weights" in err


def test_chop_mode_runs_official_chop_and_refuses_networks_without_one(tmp_path: Path,
                                                                      capsys: pytest.CaptureFixture) -> None:
    import torch

    from attnsr.models import create, save_model

    torch.manual_seed(0)
    src = _png(tmp_path / "a.png", (30, 26, 3))
    fsa = tmp_path / "fsa.safetensors"
    save_model(create("fsanet", scale=2, n_blocks=1), fsa)
    assert main(["upscale", str(src), "-o", str(tmp_path / "o"), "--weights", str(fsa), "--chop", "--quiet"]) == 0
    assert load_image(tmp_path / "o" / "a_x2.png").rgb.shape == (3, 60, 52)
    rrdb = tmp_path / "rrdb.safetensors"
    save_model(create("rrdbnet", scale=2, nb=1, nf=8), rrdb)
    assert main(["upscale", str(src), "-o", str(tmp_path / "p"), "--weights", str(rrdb), "--chop"]) == 2
    assert "no official chopped forward" in capsys.readouterr().err


def test_without_output_writes_beside_the_input(tmp_path: Path) -> None:
    src = _png(tmp_path / "photo.png", (8, 6, 3))
    assert main(["upscale", str(src), "--model", "bicubic", "--quiet"]) == 0
    assert load_image(tmp_path / "photo_x2.png").rgb.shape == (3, 16, 12)
    assert main(["upscale", str(src), "--model", "bicubic", "--quiet"]) == 1  # exists: not overwritten
    assert main(["upscale", str(tmp_path), "--model", "bicubic"]) == 2  # a folder needs -o


def test_threads_and_png_compression_options(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import torch

    src = _png(tmp_path / "a.png", (12, 10, 3))
    before = torch.get_num_threads()
    try:
        outs = []
        for level in ("0", "9"):
            target = tmp_path / f"l{level}.png"
            assert main(["upscale", str(src), "-o", str(target), "--model", "bicubic", "--threads", "1",
                         "--png-compression", level, "--quiet"]) == 0
            outs.append(target)
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
    a, b = (np.asarray(Image.open(p)) for p in outs)
    assert np.array_equal(a, b) and outs[0].stat().st_size > outs[1].stat().st_size  # lossless either way
    capsys.readouterr()
    assert main(["upscale", str(src), "-o", str(tmp_path / "x.png"), "--model", "bicubic", "--threads", "-2"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--threads" in err
    assert not (tmp_path / "x.png").exists()
