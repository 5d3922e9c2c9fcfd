"""``attnsr.metrics.create``: the objects equal the pure functions on every input kind; LPIPS as a loss."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attnsr.errors import ConfigError
from attnsr.image.io import from_uint8, save_image
from attnsr.metrics import available, create, niqe, psnr, ssim


def _pair(seed: int = 0, h: int = 40, w: int = 36) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    hr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    noise = rng.integers(-12, 13, hr.shape)
    return np.clip(hr.astype(int) + noise, 0, 255).astype(np.uint8), hr


def test_available_lists_the_five_metrics() -> None:
    assert list(available()) == ["psnr", "ssim", "lpips", "niqe", "pi"]
    assert create("psnr").lower_better is False and create("ssim").lower_better is False
    assert create("niqe").lower_better is True and create("niqe").full_reference is False


@pytest.mark.parametrize("name,fn", [("psnr", psnr), ("ssim", ssim)])
def test_full_reference_objects_equal_the_functions_on_every_input_kind(tmp_path: Path, name: str, fn) -> None:
    sr, hr = _pair()
    want = fn(sr, hr, crop_border=3, test_y=True)
    metric = create(name, crop_border=3)
    save_image(tmp_path / "sr.png", from_uint8(sr))
    save_image(tmp_path / "hr.png", from_uint8(hr))
    kinds = [(sr, hr), (Image.fromarray(sr), Image.fromarray(hr)), (from_uint8(sr), from_uint8(hr)),
             (tmp_path / "sr.png", str(tmp_path / "hr.png")),
             (sr.astype(np.uint16) * 257, hr.astype(np.uint16) * 257)]  # 16-bit: same 8-bit levels
    for a, b in kinds:
        assert metric(a, b) == want, type(a).__name__
    batch = metric(torch.stack([from_uint8(sr), from_uint8(hr)]), torch.stack([from_uint8(hr), from_uint8(hr)]))
    assert batch.shape == (2,) and batch[0].item() == want
    assert create(name, test_y=False)(sr, hr) == fn(sr, hr, crop_border=0, test_y=False)


def test_niqe_object_equals_the_function_with_its_options() -> None:
    rng = np.random.default_rng(1)
    img = torch.from_numpy(rng.random((3, 200, 200))).float()
    assert create("niqe")(img) == float(niqe(img[None])[0])
    assert create("niqe", convert_to="gray", crop_border=4)(img) == float(niqe(img[None], crop_border=4,
                                                                             convert_to="gray")[0])


def test_errors_name_the_metric_and_option() -> None:
    with pytest.raises(ConfigError, match="unknown metric 'fid'.*psnr"):
        create("fid")
    with pytest.raises(ConfigError, match="create\\('psnr'\\).*bogus"):
        create("psnr", bogus=1)
    with pytest.raises(ConfigError, match="nrqm_model"):
        create("pi")


def test_lpips_object_is_a_differentiable_loss() -> None:
    from attnsr.assets import MissingAssetError

    try:
        metric = create("lpips")
    except MissingAssetError as exc:
        pytest.skip(str(exc))
    from attnsr.metrics import LPIPSConfig, load_lpips_model

    torch.manual_seed(0)
    hr = torch.rand(2, 3, 48, 48)
    sr = (hr + 0.1 * torch.randn_like(hr)).clamp(0, 1).requires_grad_(True)
    d = metric(sr, hr)
    with torch.no_grad():
        ref = load_lpips_model(LPIPSConfig())(sr, hr)
    assert metric.lower_better and d.shape == (2,) and torch.allclose(d.detach(), ref)
    d.mean().backward()
    assert sr.grad is not None and sr.grad.abs().sum() > 0
    assert metric(sr[0].detach(), hr[0]) == pytest.approx(float(ref[0]), abs=1e-6)
