"""``attnsr upscale --outscale/--suffix/--ext/--fp32``, the descriptor in ``attnsr models``, one-line warnings."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from attnsr.cli.args import precision_from_args
from attnsr.cli.main import build_parser, main
from attnsr.errors import ConfigError
from attnsr.image.io import load_image, save_array
from attnsr.image.resize import imresize


def _png(path: Path, shape: tuple[int, ...], dtype=np.uint8, seed: int = 0) -> Path:
    top = 65535 if dtype == np.uint16 else 255
    save_array(path, (np.random.default_rng(seed).random(shape) * top).astype(dtype))
    return path


def _upscale(*args: str) -> int:
    return main(["upscale", *args, "--quiet"])


@pytest.mark.parametrize("f,size", [("3.5", (25, 32)), ("1.5", (11, 14)), ("2", (14, 18)), ("0.5", (4, 5))])
def test_outscale_sizes_and_default_names(tmp_path: Path, f: str, size: tuple[int, int]) -> None:
    src = _png(tmp_path / "a.png", (7, 9, 3))
    assert _upscale(str(src), "-o", str(tmp_path / "o"), "--model", "default", "--outscale", f) == 0
    img = load_image(tmp_path / "o" / f"a_x{float(f):g}.png")
    assert tuple(img.rgb.shape[1:]) == size


def test_outscale_is_the_model_output_then_matlab_bicubic(tmp_path: Path) -> None:
    src = _png(tmp_path / "a.png", (12, 10, 3), seed=1)
    assert _upscale(str(src), "-o", str(tmp_path / "m"), "--model", "default") == 0
    model_out = np.asarray(Image.open(tmp_path / "m" / "a_x2.png"))
    assert _upscale(str(src), "-o", str(tmp_path / "s"), "--model", "default", "--outscale", "2") == 0
    assert np.array_equal(np.asarray(Image.open(tmp_path / "s" / "a_x2.png")), model_out)  # F = scale: as is
    assert _upscale(str(src), "-o", str(tmp_path / "d"), "--model", "default", "--outscale", "1.5") == 0
    down = np.asarray(Image.open(tmp_path / "d" / "a_x1.5.png"))
    assert np.array_equal(down, imresize(model_out, size=(18, 15)))


def test_16bit_and_alpha_kept_alpha_dropped_for_jpeg_is_announced(tmp_path: Path,
                                                                  capsys: pytest.CaptureFixture) -> None:
    deep = _png(tmp_path / "deep.png", (6, 8, 3), np.uint16, seed=2)
    assert _upscale(str(deep), "-o", str(tmp_path / "o"), "--model", "bicubic", "--outscale", "3.5") == 0
    img = load_image(tmp_path / "o" / "deep_x3.5.png")
    assert img.bit_depth == 16 and tuple(img.rgb.shape[1:]) == (21, 28)
    rgba = _png(tmp_path / "rgba.png", (6, 8, 4), seed=3)
    assert _upscale(str(rgba), "-o", str(tmp_path / "o"), "--model", "bicubic", "--outscale", "2.5") == 0
    kept = load_image(tmp_path / "o" / "rgba_x2.5.png")
    assert kept.alpha is not None and tuple(kept.alpha.shape[1:]) == (15, 20)
    capsys.readouterr()
    assert _upscale(str(rgba), "-o", str(tmp_path / "j"), "--model", "bicubic", "--ext", "jpg") == 0
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if "alpha dropped" in line] == [
        f"attnsr upscale: note: {tmp_path / 'j' / 'rgba_x2.jpg'}: JPEG has no alpha channel: alpha dropped"]
    assert Image.open(tmp_path / "j" / "rgba_x2.jpg").mode == "RGB"


def test_suffix_and_ext_naming(tmp_path: Path) -> None:
    jpg = tmp_path / "p.jpg"
    Image.fromarray((np.random.default_rng(4).random((6, 7, 3)) * 255).astype(np.uint8)).save(jpg)
    out = tmp_path / "o"
    assert _upscale(str(jpg), "-o", str(out), "--model", "bicubic") == 0  # auto keeps JPEG
    assert Image.open(out / "p_x2.jpg").format == "JPEG"
    assert _upscale(str(jpg), "-o", str(out), "--model", "bicubic", "--suffix", "up", "--ext", "webp") == 0
    assert Image.open(out / "p_up.webp").format == "WEBP"
    assert _upscale(str(jpg), "-o", str(out), "--model", "bicubic", "--suffix", "", "--ext", "png") == 0
    assert Image.open(out / "p.png").size == (14, 12)
    assert _upscale(str(jpg), "-o", str(out), "--model", "bicubic", "--format", "png", "--suffix", "f") == 0
    assert (out / "p_f.png").is_file()  # --format: the older name of --ext


@pytest.mark.parametrize("args,needle", [
    (["--outscale", "0"], "--outscale"), (["--outscale", "-2"], "--outscale"), (["--outscale", "x"], "--outscale"),
    (["--ext", "gif"], "--ext"), (["--fp32", "--precision", "bf16"], "--fp32"), (["--suffix", ""], "replace its input"),
])
def test_bad_values_are_one_line_errors_and_write_nothing(tmp_path: Path, capsys: pytest.CaptureFixture,
                                                          args: list[str], needle: str) -> None:
    src = _png(tmp_path / "a.png", (5, 5, 3))
    before = sorted(tmp_path.iterdir())
    assert _upscale(str(src), "--model", "bicubic", *args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err, err
    assert sorted(tmp_path.iterdir()) == before and src.read_bytes() == (tmp_path / "a.png").read_bytes()


def test_ext_against_an_output_file_name_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _png(tmp_path / "a.png", (5, 5, 3))
    assert _upscale(str(src), "-o", str(tmp_path / "b.png"), "--model", "bicubic", "--ext", "jpg") == 2
    assert "--ext says jpg" in capsys.readouterr().err and not (tmp_path / "b.png").exists()


def test_precision_flags_parse_to_one_setting() -> None:
    parser = build_parser()
    parse = parser.parse_args
    assert precision_from_args(parse(["upscale", "a.png"])) == "auto"
    assert precision_from_args(parse(["upscale", "a.png", "--fp32"])) == "fp32"
    assert precision_from_args(parse(["upscale", "a.png", "--fp32", "--precision", "fp32"])) == "fp32"
    assert precision_from_args(parse(["upscale", "a.png", "--precision", "bf16"])) == "bf16"
    assert precision_from_args(parse(["eval", "--dataset", "d"])) == "fp32"  # paper numbers: fp32
    assert precision_from_args(parse(["compare", "a.png", "--models", "bicubic", "--crop", "0,0,8,8"])) == "fp32"
    with pytest.raises(ConfigError, match="exclude"):
        precision_from_args(argparse.Namespace(fp32=True, precision="fp16"))


def test_tiling_warning_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    src = _png(tmp_path / "a.png", (80, 70, 3), seed=5)
    def show(message, category, filename, lineno, file=None, line=None) -> None:  # Python's default, unrecorded
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))

    with warnings.catch_warnings():
        warnings.showwarning = show
        warnings.simplefilter("default")
        assert _upscale(str(src), "-o", str(tmp_path / "o"), "--model", "default", "--tile", "32") == 0
        err = capsys.readouterr().err
        assert _upscale(str(src), "-o", str(tmp_path / "w"), "--model", "default", "--tile", "0") == 0
        assert "warning:" not in capsys.readouterr().err  # whole image: nothing to warn about
    lines = [line for line in err.splitlines() if "warning:" in line.lower()]
    assert len(lines) == 1, err
    assert lines[0].startswith("attnsr: warning: dfsa: tiling into ") and "MMCA" in lines[0]
    assert "UserWarning" not in err and "warnings.warn" not in err


def test_models_shows_the_descriptor(capsys: pytest.CaptureFixture) -> None:
    assert main(["models", "--no-flops", "--scale", "4"]) == 0
    out = capsys.readouterr().out
    rows = {line.split(" | ")[0].strip("| "): line for line in out.splitlines() if line.startswith("| ")}
    assert "exact tiles" in rows["rrdbnet"] and "fp16/bf16" in rows["rrdbnet"] and "PSNR" in rows["rrdbnet"]
    assert "tiles not exact (HSPA" in rows["hspan"] and "| bf16," not in rows["hspan"]
    assert ", bf16, PSNR" in rows["hspan"]  # no fp16: its attention scores overflow float16
    assert "real-photo" in rows["srvgg"] and "GAN" in rows["fasrgan"]
    bundled = out.split("Bundled models:")[1]
    assert "tiles not exact (MMCA)" in bundled and "real-photo" in bundled


def test_compare_figure_follows_the_output_factor(tmp_path: Path) -> None:
    from attnsr.infer.figures import CAPTION_HEIGHT, GAP

    src = _png(tmp_path / "a.png", (7, 9, 3), seed=6)
    assert _upscale(str(src), "-o", str(tmp_path / "o"), "--model", "bicubic", "--outscale", "3.5",
                    "--compare") == 0
    fig = Image.open(tmp_path / "o" / "a_x3.5_compare.png")
    assert fig.size == (2 * 32 + GAP, 25 + CAPTION_HEIGHT)  # two 32x25 panels, side by side
