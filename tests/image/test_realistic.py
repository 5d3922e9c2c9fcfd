"""Realistic degradations: kernels against their definitions, each operation on known inputs, and the
pipelines' contracts (sizes, 8-bit levels, seeding, batch == one image at a time)."""

from __future__ import annotations

import math

import pytest
import torch

from attnsr.errors import ConfigError, ImageError
from attnsr.image import kernels as K
from attnsr.image import realistic as R
from attnsr.image.degrade import gaussian_kernel


def _delta_image(size: int = 31) -> torch.Tensor:
    x = torch.zeros(1, 1, size, size, dtype=torch.float64)
    x[..., size // 2, size // 2] = 1.0
    return x


def _smooth_image(h: int = 64, w: int = 64, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(1, 3, h // 8, w // 8, generator=g)
    return torch.nn.functional.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


KERNELS = {
    "iso": lambda: K.gaussian(11, 1.7),
    "aniso": lambda: K.gaussian(15, 3.0, 0.8, 0.6),
    "generalized": lambda: K.generalized_gaussian(13, 2.0, 1.0, -1.1, 0.6),
    "plateau": lambda: K.plateau(13, 1.5, 2.5, 0.4, 1.7),
    "sinc": lambda: K.sinc(13, math.pi / 3),
}


@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_sums_to_one_and_delta_gives_it_back(name: str) -> None:
    k = KERNELS[name]()
    assert k.dtype == torch.float64 and k.shape[0] == k.shape[1] and k.shape[0] % 2 == 1
    assert abs(float(k.sum()) - 1.0) < 1e-12
    out = R.filter2d(_delta_image(), k)
    c, r = 31 // 2, k.shape[0] // 2
    # correlation of a unit impulse is the kernel rotated by 180 degrees
    assert torch.allclose(out[0, 0, c - r:c + r + 1, c - r:c + r + 1], k.flip(0, 1), atol=1e-15)


def test_isotropic_gaussian_is_matlab_fspecial() -> None:
    assert torch.allclose(K.gaussian(7, 1.6), gaussian_kernel(7, 1.6), atol=1e-15)


def test_anisotropic_gaussian_is_rotated() -> None:
    wide_x = K.gaussian(21, 4.0, 1.0, 0.0)
    assert float(wide_x[10, 14]) > 10 * float(wide_x[14, 10])  # spread along columns (x), not rows
    turned = K.gaussian(21, 4.0, 1.0, math.pi / 2)
    assert torch.allclose(turned, wide_x.T, atol=1e-12)


def _tail(k: torch.Tensor) -> float:
    return float(k[7, 12] / k[7, 7])  # five pixels from the centre, relative to the centre


def test_generalized_with_beta_one_is_gaussian_and_the_shapes_differ_in_their_tails() -> None:
    assert torch.allclose(K.generalized_gaussian(15, 2.0, 1.2, 0.3, 1.0), K.gaussian(15, 2.0, 1.2, 0.3), atol=1e-14)
    gauss = _tail(K.gaussian(15, 1.0))
    assert abs(gauss - math.exp(-12.5)) < 1e-12
    assert _tail(K.generalized_gaussian(15, 1.0, 1.0, 0.0, 0.5)) == pytest.approx(math.exp(-2.5), rel=1e-12)
    assert _tail(K.plateau(15, 1.0, 1.0, 0.0, 2.0)) == pytest.approx(1 / 626, rel=1e-12)


def test_sinc_is_a_low_pass_with_its_cutoff() -> None:
    k = K.sinc(63, math.pi / 2)
    response = torch.fft.fft2(K.pad_kernel(k, 127)).abs()
    freqs = torch.fft.fftfreq(127) * 2 * math.pi
    radius = torch.sqrt(freqs[:, None] ** 2 + freqs[None, :] ** 2)
    assert abs(float(response[0, 0]) - 1.0) < 1e-9
    assert float(response[radius < 0.35 * math.pi].min()) > 0.9
    assert float(response[(radius > 0.7 * math.pi) & (radius < math.pi)].max()) < 0.1


def test_random_kernels_are_padded_normalised_and_seeded() -> None:
    cfg = K.KernelConfig(sinc_prob=0.3)
    a = [K.random_kernel(cfg, torch.Generator().manual_seed(s)) for s in range(40)]
    b = [K.random_kernel(cfg, torch.Generator().manual_seed(s)) for s in range(40)]
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert all(x.shape == (21, 21) and abs(float(x.sum()) - 1) < 1e-12 for x in a)
    assert len({tuple(x.flatten().tolist()) for x in a}) == 40


def test_kernel_config_is_validated() -> None:
    with pytest.raises(ConfigError, match="kernel.sizes"):
        K.KernelConfig(sizes=(6, 21))
    with pytest.raises(ConfigError, match="unknown kind"):
        K.KernelConfig(kinds=("box",), probs=(1.0,))
    with pytest.raises(ConfigError, match="sinc_prob"):
        K.KernelConfig(sinc_prob=1.5)


def test_jpeg_quality_100_is_close_to_identity_and_lower_quality_loses_more() -> None:
    x = torch.floor(_smooth_image() * 255 + 0.5) / 255
    errors = [float((R.jpeg(x, q) - x).pow(2).mean()) for q in (100, 75, 20)]
    assert 10 * math.log10(1 / errors[0]) > 35  # colour: 4:2:0 chroma subsampling costs a little
    gray = x[:, :1]
    assert 10 * math.log10(1 / float((R.jpeg(gray, 100) - gray).pow(2).mean())) > 45
    assert errors[0] < errors[1] < errors[2]
    assert torch.equal(R.jpeg(x, 60), R.jpeg(x, 60))  # a codec, not a random process
    levels = R.jpeg(x, 60) * 255
    assert torch.equal(levels, levels.round())


def test_gaussian_noise_statistics_and_gray() -> None:
    x = torch.full((1, 3, 256, 256), 0.5)
    y = R.add_gaussian_noise(x, 10.0, gray=False, g=torch.Generator().manual_seed(1))
    d = (y - x) * 255
    assert abs(float(d.std()) - 10.0) < 0.3 and abs(float(d.mean())) < 0.2
    assert float(torch.corrcoef(d.reshape(3, -1))[0, 1].abs()) < 0.05  # independent channels
    gray = R.add_gaussian_noise(x, 10.0, gray=True, g=torch.Generator().manual_seed(1))
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])


def test_poisson_noise_is_mean_preserving_with_variance_x_over_v() -> None:
    levels = torch.arange(77, 77 + 100, dtype=torch.float32) / 255.0  # 100 distinct levels -> v = 128
    x = levels.repeat(3, 200, 1).unsqueeze(0)  # (1, 3, 200, 100)
    for scale in (1.0, 2.0):
        y = R.add_poisson_noise(x, scale, gray=False, g=torch.Generator().manual_seed(3))
        d = y - x
        assert abs(float(d.mean())) < 2e-3
        expected = float(x.mean()) / 128 * scale * scale
        assert float(d.var()) == pytest.approx(expected, rel=0.05)
    gray = R.add_poisson_noise(x, 1.0, gray=True, g=torch.Generator().manual_seed(3))
    assert torch.allclose(gray[:, 0] - x[:, 0], gray[:, 2] - x[:, 2], atol=1e-6)


def test_usm_keeps_flat_regions_and_sharpens_edges() -> None:
    flat = torch.full((1, 3, 64, 64), 0.4)
    assert torch.allclose(R.usm_sharpen(flat), flat, atol=1e-7)
    edge = torch.zeros(1, 1, 64, 64)
    edge[..., 32:] = 0.6
    edge = R.filter2d(edge, K.gaussian(9, 2.0))
    sharp = R.usm_sharpen(edge)
    assert float(sharp[..., 32:].max()) > float(edge.max())  # overshoot on the bright side
    assert float((sharp[..., 34] - sharp[..., 30]).mean()) > float((edge[..., 34] - edge[..., 30]).mean())


CONFIGS = {
    "realesrgan": R.RealisticConfig(),
    "bsrgan": R.RealisticConfig(pipeline="bsrgan"),
    "eval": R.EVAL_REALISTIC,
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
@pytest.mark.parametrize("scale", [2, 3, 4])
def test_pipeline_sizes_levels_and_seeding(name: str, scale: int) -> None:
    hr = _smooth_image(48 * scale // 2, 36 * scale // 2, seed=scale).repeat(3, 1, 1, 1)
    hr = hr[..., : hr.shape[-2] // scale * scale, : hr.shape[-1] // scale * scale]
    cfg = CONFIGS[name]
    lr = R.degrade_realistic(hr, scale, cfg, [5, 6, 7])
    assert lr.shape == (3, 3, hr.shape[-2] // scale, hr.shape[-1] // scale)
    assert lr.dtype == hr.dtype and float(lr.min()) >= 0 and float(lr.max()) <= 1
    assert torch.equal(lr * 255, (lr * 255).round())
    assert torch.equal(lr, R.degrade_realistic(hr, scale, cfg, [5, 6, 7]))
    assert not torch.equal(lr[0], R.degrade_realistic(hr, scale, cfg, [8, 6, 7])[0])


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_batch_equals_one_image_at_a_time(name: str) -> None:
    hr = torch.cat([_smooth_image(64, 64, seed=s) for s in range(4)])
    seeds = [11, 12, 13, 14]
    batch = R.degrade_realistic(hr, 2, CONFIGS[name], seeds)
    for i in range(4):
        assert torch.equal(batch[i], R.degrade_realistic(hr[i], 2, CONFIGS[name], [seeds[i]]))


def test_eval_setting_degrades_mildly() -> None:
    """The test-time setting is a photo, not a wreck: its LR stays within reach of the clean one."""
    from attnsr.image.degrade import degrade

    hr = _smooth_image(96, 96, seed=9)
    clean = degrade(hr, 2, "BI", quantize=True)
    lrs = R.degrade_realistic(hr.repeat(8, 1, 1, 1), 2, R.EVAL_REALISTIC, list(range(8)))
    psnrs = [-10 * math.log10(float((lr - clean[0]).pow(2).mean())) for lr in lrs]
    assert 20 < min(psnrs) and max(psnrs) < 45


def test_mix_seed_spreads_and_is_stable() -> None:
    seeds = {R.mix_seed(0, k, 0, i) for k in range(50) for i in range(16)}
    assert len(seeds) == 800 and all(0 <= s < 2**63 for s in seeds)
    assert R.mix_seed(1, 2, 3) == R.mix_seed(1, 2, 3) != R.mix_seed(1, 3, 2)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(ImageError, match="multiple of scale"):
        R.degrade_realistic(torch.rand(1, 3, 33, 32), 2, R.RealisticConfig(), [0])
    with pytest.raises(ConfigError, match="seeds"):
        R.degrade_realistic(torch.rand(2, 3, 32, 32), 2, R.RealisticConfig(), [0])
    with pytest.raises(ConfigError, match="pipeline"):
        R.RealisticConfig(pipeline="dasr")
    with pytest.raises(ConfigError, match="jpeg_quality"):
        R.StageConfig(jpeg_quality=(30.0, 120.0))
    with pytest.raises(ConfigError, match="noise_prob"):
        R.StageConfig(noise_prob=2.0)


def test_clean_prob_mixes_the_clean_bicubic_lr_per_image() -> None:
    """clean_prob 1 gives exactly the BI degradation; 0.5 gives a per-seed mix of BI and pipeline images,
    each equal to what clean_prob 1 or the pipeline would give that image; 0 keeps the pipeline's draws."""
    from dataclasses import replace

    from attnsr.image.degrade import degrade

    hr = torch.cat([_smooth_image(64, 64, seed=s) for s in range(8)])
    seeds = list(range(100, 108))
    clean = degrade(hr, 2, "BI")
    assert torch.equal(R.degrade_realistic(hr, 2, R.RealisticConfig(clean_prob=1.0), seeds), clean)
    plain = R.degrade_realistic(hr, 2, R.RealisticConfig(), seeds)
    assert torch.equal(R.degrade_realistic(hr, 2, R.RealisticConfig(clean_prob=0.0), seeds), plain)
    mixed = R.degrade_realistic(hr, 2, replace(R.RealisticConfig(), clean_prob=0.5), seeds)
    is_clean = [torch.equal(mixed[i], clean[i]) for i in range(8)]
    assert 0 < sum(is_clean) < 8
    for i in range(8):
        g = torch.Generator().manual_seed(seeds[i])
        assert is_clean[i] == (float(torch.rand((), generator=g)) < 0.5)
    with pytest.raises(ConfigError, match="clean_prob"):
        R.RealisticConfig(clean_prob=1.5)
