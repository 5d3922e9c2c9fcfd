"""The models shipped in the package load, give the recorded outputs, and beat bicubic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from attnsr.image.degrade import degrade
from attnsr.image.io import read_rgb
from attnsr.image.resize import imresize, modcrop
from attnsr.infer.resolve import DEFAULT_BUNDLED, bundled_models, resolve_model
from attnsr.metrics import psnr

REPO = Path(__file__).resolve().parents[1]
REFERENCE = json.loads((REPO / "tests" / "fixtures" / "bundled_reference.json").read_text())
SAMPLE = REPO / "attnsr" / "assets" / "sample.png"


def test_every_scale_of_the_default_is_shipped_and_small() -> None:
    found = bundled_models()
    assert {(DEFAULT_BUNDLED, s) for s in (2, 3, 4)} <= set(found)
    assert sum(p.stat().st_size for p in found.values()) < 10 * 2**20


SHIPPED = sorted(bundled_models())


@pytest.mark.parametrize("scale", [2, 4])
def test_photo_model_is_shipped_and_named_photo(scale: int) -> None:
    assert ("attnsr-photo", scale) in bundled_models()
    assert resolve_model("photo", None, scale).label == f"attnsr-photo_x{scale}"


@pytest.mark.parametrize(("family", "scale"), SHIPPED)
def test_bundled_model_reproduces_recorded_output(family: str, scale: int) -> None:
    resolved = resolve_model(family, None, scale)
    ref = REFERENCE[f"{family}_x{scale}"]
    lr = read_rgb(SAMPLE)[:, :24, :32].unsqueeze(0)
    with torch.inference_mode():
        first, second = resolved.model(lr), resolved.model(lr)
    assert torch.equal(first, second)
    assert list(first.shape) == ref["shape"] == [1, 3, 24 * scale, 32 * scale]
    assert first.mean().item() == pytest.approx(ref["mean"], abs=1e-5)
    assert first.std().item() == pytest.approx(ref["std"], abs=1e-5)
    assert first[0, :, 0, 0].tolist() == pytest.approx(ref["corner"], abs=1e-5)


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_bundled_model_beats_bicubic_on_the_sample(scale: int) -> None:
    hr = modcrop(read_rgb(SAMPLE), scale)
    lr = degrade(hr, scale, "BI").unsqueeze(0)
    model = resolve_model("default", None, scale).model
    with torch.inference_mode():
        sr = model(lr)[0]
    bicubic = imresize(lr, float(scale))[0]
    assert psnr(sr, hr, crop_border=scale) > psnr(bicubic, hr, crop_border=scale) + 0.3


def _realistic_sample(scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The sample image (modcropped HR) and three LR copies made by the fixed eval setting, seeds 0-2."""
    from attnsr.image.realistic import EVAL_REALISTIC, degrade_realistic

    hr = modcrop(read_rgb(SAMPLE), scale)
    return hr, degrade_realistic(hr.unsqueeze(0).repeat(3, 1, 1, 1), scale, EVAL_REALISTIC, [0, 1, 2])


@pytest.mark.parametrize("scale", [2, 4])
def test_photo_model_beats_bicubic_on_a_realistic_degraded_sample(scale: int) -> None:
    hr, lr = _realistic_sample(scale)
    model = resolve_model("photo", None, scale).model
    with torch.inference_mode():
        sr = model(lr)
    bicubic = imresize(lr, float(scale))
    gain = sum(psnr(sr[i], hr, crop_border=scale) - psnr(bicubic[i], hr, crop_border=scale) for i in range(3)) / 3
    assert gain > 0.5  # 1.7-2.1 dB per image for the shipped x2 and x4


@pytest.mark.parametrize(("family", "scale"), SHIPPED)
def test_shipped_model_matches_its_recipe(family: str, scale: int) -> None:
    """The recipe each shipped file names builds that architecture and starts from the file it records."""
    from attnsr.models.checkpoint import check_keys, read_checkpoint
    from attnsr.models.registry import create
    from attnsr.train import load_plan

    path = bundled_models()[(family, scale)]
    tensors, meta = read_checkpoint(path)
    recipe = REPO / meta["recipe"]
    assert recipe.is_file(), f"{path.name} names a missing recipe {meta['recipe']}"
    plan = load_plan(recipe)  # the whole history in one file: the last stage made the shipped weights
    cfg = plan[-1].cfg
    assert cfg.name.split("/")[0] == path.stem and cfg.model.scale == scale and cfg.model.name == meta["arch"]
    built = create(cfg.model.name, scale=scale, **dict(cfg.model.options)).state_dict()
    check_keys(built, tensors, where=f"{path.name} against {meta['recipe']}")  # same keys, same shapes
    if len(plan) == 1 and cfg.model.pretrained:  # a fine-tune of another shipped model (photo-gan of photo)
        source = REPO / cfg.model.pretrained
        assert source.parent == path.parent and source.is_file() and source != path
        assert meta["initialised_from"] == source.name
    elif len(plan) == 1:
        assert meta["initialised_from"].startswith("random")
    else:  # every later stage starts from an earlier stage of the same file, never from a loose file
        assert all(s.init is not None for s in plan[1:]) and not plan[0].cfg.model.pretrained
        assert meta["initialised_from"] != "" and not meta["initialised_from"].startswith("random")
    assert int(meta["iterations"]) == cfg.iterations


def _detail(x: torch.Tensor) -> float:
    """Mean absolute difference of horizontally and vertically adjacent pixels: the image's fine detail."""
    return float((x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean())


def test_photo_gan_is_the_sharper_photo_model() -> None:
    """``--model photo-gan`` (the adversarial fine-tune) restores more detail than ``photo`` from the same
    realistic LR, while staying near it (same generator, fine-tuned, not retrained)."""
    assert resolve_model("photo-gan", None, 2).label == "attnsr-photo-gan_x2"
    hr, lr = _realistic_sample(2)
    with torch.inference_mode():
        gan, plain = resolve_model("photo-gan", None, 2).model(lr), resolve_model("photo", None, 2).model(lr)
    assert _detail(plain) * 1.2 < _detail(gan) < 1.5 * _detail(hr)  # more detail than photo, not far beyond the HR's
    assert psnr(gan[0], plain[0], crop_border=2) > 30.0


def test_photo_gan_strength_interpolates_the_two_networks() -> None:
    """``--model photo-gan:S`` is ESRGAN's network interpolation: S = 0 is photo and S = 1 photo-gan, bit for
    bit; in between every weight is the blend, and the detail grows with S."""
    from attnsr.errors import ConfigError

    plain, gan = resolve_model("photo", None, 2).model, resolve_model("photo-gan", None, 2).model
    ends = resolve_model("photo-gan:0", None, 2).model, resolve_model("photo-gan:1", None, 2).model
    for net, want in zip(ends, (plain, gan)):
        assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), want.state_dict().values()))
    half = resolve_model("photo-gan:0.5", None, 2)
    assert half.label == "attnsr-photo-gan_x2@0.5"
    for key, value in half.model.state_dict().items():
        torch.testing.assert_close(value, (plain.state_dict()[key] + gan.state_dict()[key]) / 2)
    _, lr = _realistic_sample(2)
    with torch.inference_mode():
        detail = [_detail(resolve_model(f"photo-gan:{s}", None, 2).model(lr)) for s in (0, 0.5, 1)]
    assert detail[0] < detail[1] < detail[2]
    for bad, msg in (("photo:0.5", "only a GAN model"), ("photo-gan:1.5", "from 0"), ("photo-gan:x", "from 0"),
                     ("photo-gan:nan", "from 0"), ("default:0.2", "only a GAN model")):
        with pytest.raises(ConfigError, match=msg):
            resolve_model(bad, None, 2)
    with pytest.raises(ConfigError, match="x4: not a bundled model"):  # no photo-gan x4 is shipped
        resolve_model("photo-gan:0.5", None, 4)
