"""Borders: the engine mirrors the image outward before the network and crops after, so a 1x1 or flat
image comes out flat; ``--border none`` (``attnsr eval``'s default) is the plain network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attnsr import Upscaler, create
from attnsr.cli.main import main
from attnsr.errors import ConfigError
from attnsr.infer.engine import pad_border
from attnsr.infer.resolve import resolve_model


@pytest.fixture(scope="module")
def default_model() -> torch.nn.Module:
    return resolve_model("default", None, 2).model


def test_one_pixel_and_flat_images_come_out_flat(tmp_path: Path, default_model: torch.nn.Module) -> None:
    src = tmp_path / "one.png"
    Image.fromarray(np.array([[[200, 30, 60]]], np.uint8)).save(src)
    assert main(["upscale", str(src), "-o", str(tmp_path / "one_x2.png"), "--no-progress"]) == 0
    out = np.asarray(Image.open(tmp_path / "one_x2.png")).reshape(-1, 3).astype(int)
    assert out.shape == (4, 3) and np.abs(out - [200, 30, 60]).max() <= 1, out
    up = Upscaler(default_model, scale=2, device="cpu")
    flat = up.upscale_array(np.full((24, 20, 3), (120, 80, 200), np.uint8)).astype(int)
    assert np.abs(flat - [120, 80, 200]).max() <= 1
    plain = Upscaler(default_model, scale=2, device="cpu", border="none")
    corners = plain.upscale_array(np.full((24, 20, 3), (120, 80, 200), np.uint8)).astype(int)
    assert np.abs(corners - [120, 80, 200]).max() > 5  # what the plain network does at its borders


def test_padding_equals_an_independent_mirror_pad_and_crop_tiled_or_not() -> None:
    torch.manual_seed(0)
    net = create("srvgg", scale=2, nf=8, num_conv=2).eval()
    x = torch.rand(1, 3, 30, 27, generator=torch.Generator().manual_seed(3))
    padded = torch.from_numpy(np.pad(x.numpy(), ((0, 0), (0, 0), (16, 16), (16, 16)), mode="symmetric"))
    with torch.no_grad():
        ref = net(padded)[..., 32:-32, 32:-32]
    whole = Upscaler(net, scale=2, device="cpu", tile=0, fold=False).upscale_tensor(x)
    torch.testing.assert_close(whole, ref, rtol=0, atol=1e-5)
    a = (x[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    tiled = Upscaler(net, scale=2, device="cpu", tile=16, fold=False).upscale_array(a)  # the sink path
    untiled = Upscaler(net, scale=2, device="cpu", tile=0, fold=False).upscale_array(a)
    assert np.abs(tiled.astype(int) - untiled.astype(int)).max() <= 1


def test_pad_border_handles_images_smaller_than_the_padding() -> None:
    x = torch.arange(6.0).reshape(1, 1, 2, 3)
    y = pad_border(x, 5)
    assert y.shape == (1, 1, 12, 13)
    # numpy's symmetric mode repeats the period for pads longer than the side, as mirroring again does
    assert torch.equal(y, torch.from_numpy(np.pad(x.numpy(), ((0, 0), (0, 0), (5, 5), (5, 5)), mode="symmetric")))
    assert torch.equal(y[..., 5:7, 5:8], x)  # the image sits in the middle, unchanged
    assert set(y.unique().tolist()) <= set(x.unique().tolist())  # only mirrored values around it
    assert torch.equal(pad_border(torch.full((1, 3, 1, 1), 0.5), 16), torch.full((1, 3, 33, 33), 0.5))


def test_eval_runs_the_plain_network_unless_told() -> None:
    from attnsr.cli.main import build_parser

    args = build_parser("eval").parse_args(["eval", "--dataset", "d"])
    assert args.border == "none"
    args = build_parser("upscale").parse_args(["upscale", "x.png"])
    assert args.border == "mirror"
    with pytest.raises(ConfigError, match="border"):
        Upscaler(create("srvgg", scale=2, nf=4, num_conv=1), scale=2, device="cpu", border="zero")
