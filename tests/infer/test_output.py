"""Output factor, names and formats of an upscale (attnsr.infer.output) and the engine's precision choice."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from attnsr.errors import ConfigError
from attnsr.image.resize import imresize
from attnsr.infer import output
from attnsr.infer.engine import Upscaler, choose_precision
from attnsr.infer.output import fit_format, output_name, outscale_size, resize_samples, upscale_to


class ConvX2(nn.Module):
    """A learned-looking ×2 model (not bicubic), so that 'model output, then resize' is a real claim."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.scale = 2
        self.conv = nn.Conv2d(3, 12, 3, padding=1)
        self.shuffle = nn.PixelShuffle(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.shuffle(self.conv(x)))


def _engine() -> Upscaler:
    return Upscaler(ConvX2(), device="cpu", fold=False, tile=0)


def _rand(shape: tuple[int, ...], dtype=np.uint8, seed: int = 0) -> np.ndarray:
    top = 65535 if dtype == np.uint16 else 255
    return (np.random.default_rng(seed).random(shape) * top).astype(dtype)


@pytest.mark.parametrize("h,w,f,expected", [(7, 9, 3.5, (25, 32)), (5, 3, 1.5, (8, 5)), (10, 10, 0.25, (3, 3)),
                                            (7, 9, 1.2, (8, 11)), (3, 10, 0.33, (1, 3)),
                                            (1, 1, 0.1, (1, 1)), (6, 4, 2.0, (12, 8))])
def test_outscale_size_rounds_half_up(h: int, w: int, f: float, expected: tuple[int, int]) -> None:
    assert outscale_size(h, w, f) == expected


@pytest.mark.parametrize("bad", [0, 0.0, -1.5, math.nan, math.inf])
def test_bad_outscale_is_a_config_error(bad: float) -> None:
    with pytest.raises(ConfigError, match="--outscale"):
        output.check_outscale(bad)


@pytest.mark.parametrize("f", [0.5, 1.0, 1.5, 3.0, 3.5])
def test_upscale_to_is_the_model_output_resized_with_matlab_bicubic(f: float) -> None:
    lr = _rand((11, 14, 3))
    engine = _engine()
    sr = engine.upscale_array(lr)
    out = upscale_to(engine, lr, f)
    size = (math.floor(f * 11 + 0.5), math.floor(f * 14 + 0.5))
    assert out.shape == (*size, 3) and out.dtype == np.uint8
    assert np.array_equal(out, imresize(sr, size=size))  # MATLAB's imresize on the uint8 model output


def test_outscale_equal_to_the_model_scale_is_exactly_the_model_output() -> None:
    lr = _rand((9, 13, 3), seed=1)
    engine = _engine()
    assert np.array_equal(upscale_to(engine, lr, 2.0), engine.upscale_array(lr))
    assert np.array_equal(upscale_to(engine, lr, None), engine.upscale_array(lr))


def test_16bit_stays_16bit_and_is_resized_in_float() -> None:
    lr = _rand((8, 10, 3), np.uint16, seed=2)
    engine = _engine()
    sr = engine.upscale_array(lr)
    out = upscale_to(engine, lr, 3.5)
    assert out.dtype == np.uint16 and out.shape == (28, 35, 3)
    truth = np.floor(np.clip(imresize(sr.astype(np.float64), size=(28, 35)), 0, 65535) + 0.5)
    assert np.array_equal(out, truth.astype(np.uint16))
    assert len(np.unique(out)) > 300  # not quantised to 8 bits on the way


@pytest.mark.parametrize("channels", [2, 4])
def test_alpha_is_carried_and_resized_with_the_colour(channels: int) -> None:
    lr = _rand((10, 12, channels), seed=3)
    engine = _engine()
    sr = engine.upscale_array(lr)
    out = upscale_to(engine, lr, 1.5)
    assert out.shape == (15, 18, channels)
    assert np.array_equal(out[..., -1], imresize(np.ascontiguousarray(sr[..., -1]), size=(15, 18)))


def test_gray_2d_in_2d_out() -> None:
    out = upscale_to(_engine(), _rand((6, 5)), 2.5)
    assert out.shape == (15, 13)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_banded_resize_equals_one_pass(monkeypatch: pytest.MonkeyPatch, dtype) -> None:
    img = _rand((23, 17, 3), np.uint16 if dtype == np.uint16 else np.uint8, seed=4)
    img = img.astype(np.float32) / 255 if dtype == np.float32 else img
    whole = resize_samples(img, (40, 9))
    monkeypatch.setattr(output, "_CHUNK_ELEMENTS", 50)  # bands of one line or a few
    assert whole.dtype == img.dtype
    assert np.array_equal(resize_samples(img, (40, 9)), whole)
    if dtype == np.uint8:
        assert np.array_equal(whole, imresize(img, size=(40, 9)))
    if dtype == np.float32:
        assert np.abs(whole - np.clip(imresize(img.astype(np.float64), size=(40, 9)), 0, 1)).max() < 1e-6


def test_names_suffixes_and_ext() -> None:
    src = Path("in/photo.JPEG")
    assert output_name(src, scale_label="3.5", suffix=None, ext="auto") == "photo_x3.5.jpg"
    assert output_name(src, scale_label="2", suffix=None, ext="png") == "photo_x2.png"
    assert output_name(src, scale_label="2", suffix="out", ext="webp") == "photo_out.webp"
    assert output_name(src, scale_label="2", suffix="", ext="auto") == "photo.jpg"
    assert output_name(Path("a.gif"), scale_label="4", suffix=None, ext="auto") == "a_x4.png"
    assert output_name(Path("a.tiff"), scale_label="4", suffix=None, ext="auto") == "a_x4.tif"
    assert output.scale_label(3.5) == "3.5" and output.scale_label(2.0) == "2"
    with pytest.raises(ConfigError, match="--ext"):
        output_name(src, scale_label="2", suffix=None, ext="gif")
    with pytest.raises(ConfigError, match="--suffix"):
        output_name(src, scale_label="2", suffix="../x", ext="png")


def test_fit_format_reduces_depth_and_drops_alpha_only_where_needed() -> None:
    rgba16 = _rand((4, 5, 4), np.uint16, seed=5)
    same, notes = fit_format(rgba16, ".png")
    assert same is rgba16 and notes == []
    jpg, notes = fit_format(rgba16, ".jpg")
    assert jpg.dtype == np.uint8 and jpg.shape == (4, 5, 3) and len(notes) == 2
    assert np.array_equal(jpg, np.floor(rgba16[..., :3] / 257.0 + 0.5).astype(np.uint8))
    assert "alpha dropped" in notes[1] and "JPEG" in notes[1]
    webp, notes = fit_format(_rand((4, 5, 4)), ".webp")
    assert webp.shape == (4, 5, 4) and notes == []
    la, notes = fit_format(_rand((4, 5, 2)), ".jpg")
    assert la.shape == (4, 5, 1) and len(notes) == 1


@pytest.mark.parametrize("requested,device,fp16_ok,expected", [
    ("auto", "cuda", True, "fp16"), ("auto", "cuda", False, "fp32"), ("auto", "cpu", True, "fp32"),
    ("auto", "mps", True, "fp32"), ("fp32", "cuda", True, "fp32"), ("bf16", "cuda", True, "bf16"),
    ("bf16", "cpu", False, "bf16"), ("fp16", "cuda", False, "fp16"),
])
def test_precision_choice(requested: str, device: str, fp16_ok: bool, expected: str) -> None:
    assert choose_precision(requested, device, fp16_ok) == expected


def test_precision_choice_refuses_unknown_names() -> None:
    with pytest.raises(ValueError, match="precision"):
        choose_precision("half", "cuda", True)


def test_engine_default_precision_is_fp32_on_cpu() -> None:
    from attnsr.models import create

    up = Upscaler(create("srvgg", scale=2, nf=8, num_conv=1), device="cpu")
    assert up.descriptor is not None and up.descriptor.fp16  # would be fp16 on CUDA
    assert up.options.precision == "fp32"
