"""The realistic LR that evaluation scores: the fixed photo setting by default, any pipeline through
``EvalSettings.realistic``, always drawn from the file name's seed."""

import dataclasses
import zlib

import torch

from attnsr.eval import EvalSettings, evaluate_dataset, make_lr
from attnsr.image.io import load_image, save_image
from attnsr.image.realistic import EVAL_REALISTIC, degrade_realistic, mix_seed


def _photo(h: int, w: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(4)
    small = torch.rand(1, 3, h // 4, w // 4, generator=g)
    return torch.nn.functional.interpolate(small, size=(h, w), mode="bicubic", align_corners=False)[0].clamp(0, 1)


def _scored_lrs(folder, settings: EvalSettings) -> list[torch.Tensor]:
    seen: list[torch.Tensor] = []

    def method(lr: torch.Tensor) -> torch.Tensor:
        seen.append(lr.clone())
        return torch.nn.functional.interpolate(lr, scale_factor=2, mode="nearest")

    evaluate_dataset(method, folder, 2, settings)
    return seen


def test_settings_realistic_is_the_pipeline_evaluation_uses(tmp_path) -> None:
    hr = _photo(40, 48)
    save_image(tmp_path / "pic.png", hr)
    hr = load_image(tmp_path / "pic.png").rgb[None]  # the 8-bit image evaluation reads
    seeds = [mix_seed(7, zlib.crc32(b"pic.png"))]
    default = _scored_lrs(tmp_path, EvalSettings(degradation="realistic", seed=7, metrics=("psnr",), progress=False))
    assert torch.equal(default[0], degrade_realistic(hr, 2, EVAL_REALISTIC, seeds))
    harsh = dataclasses.replace(EVAL_REALISTIC, realesrgan=dataclasses.replace(
        EVAL_REALISTIC.realesrgan, second=dataclasses.replace(EVAL_REALISTIC.realesrgan.second,
                                                              noise_sigma=(40.0, 50.0), gaussian_noise_prob=1.0)))
    custom = _scored_lrs(tmp_path, EvalSettings(degradation="realistic", seed=7, metrics=("psnr",),
                                                progress=False, realistic=harsh))
    assert torch.equal(custom[0], degrade_realistic(hr, 2, harsh, seeds))
    assert torch.equal(custom[0], make_lr(hr, "pic.png", 2, "realistic", 7, harsh))
    assert not torch.equal(custom[0], default[0])
