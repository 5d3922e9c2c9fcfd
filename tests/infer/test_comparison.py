"""The comparison-figure API (:mod:`attnsr.infer.comparison`) from Python, without the command line."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from attnsr.errors import ConfigError
from attnsr.infer.comparison import ModelSpec, compare_models, compare_real
from attnsr.infer.figures import CAPTION_HEIGHT, GAP

BICUBIC = [ModelSpec("bicubic", "bicubic", None)]


def _image(h: int, w: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return (torch.randint(0, 256, (3, h, w), generator=g).float() / 255)


def test_hr_figure_panels_and_captions() -> None:
    hr = _image(25, 27)  # modcropped to 24 x 26 at x2
    fig = compare_models(hr, BICUBIC, (2, 4, 8, 6), 2, zoom=3, device="cpu")
    assert fig.zoom == 3 and fig.captions[0] == "HR (2,4,8,6)"
    assert fig.captions[1].startswith("bicubic: ") and fig.captions[1].endswith("LPIPS n/a")  # < 32 px: no LPIPS
    assert fig.figure.shape == (6 * 3 + CAPTION_HEIGHT, 2 * 8 * 3 + GAP, 3)
    want = np.floor(hr[:, 4:10, 2:10].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(fig.figure[:18, :24], want.repeat(3, axis=0).repeat(3, axis=1))
    with pytest.raises(ConfigError, match="outside the image"):
        compare_models(hr, BICUBIC, (20, 0, 8, 8), 2, device="cpu")  # 20 + 8 > 26 after the modcrop


def test_real_figure_enlarges_the_input_by_scale_times_zoom() -> None:
    lr = _image(10, 12)
    fig = compare_real(lr, BICUBIC, "1,2,4,3", 2, zoom=5)
    assert fig.zoom == 10 and fig.captions == ["input (1,2,4,3)", "bicubic x2"]
    assert fig.figure.shape == (3 * 10 + CAPTION_HEIGHT, 2 * 4 * 10 + GAP, 3)
    want = np.floor(lr[:, 2:5, 1:5].permute(1, 2, 0).numpy() * 255 + 0.5).astype(np.uint8)
    assert np.array_equal(fig.figure[:30, :40], want.repeat(10, axis=0).repeat(10, axis=1))


def test_realistic_figure_scores_the_lr_that_eval_scores(tmp_path) -> None:
    """``degradation="realistic"`` makes the LR ``attnsr eval --degradation realistic`` makes for that file
    name and seed: the bicubic caption is eval's per-image PSNR; another seed gives another LR."""
    from attnsr.eval import EvalSettings, bicubic_method, evaluate_dataset
    from attnsr.image.io import save_image

    folder = tmp_path / "Set"
    folder.mkdir()
    hr = torch.nn.functional.interpolate(_image(20, 24)[None], size=(40, 48), mode="bicubic",
                                         align_corners=False)[0].clamp(0, 1)
    save_image(folder / "pic.png", hr)
    ref = evaluate_dataset(bicubic_method(2), folder, 2, EvalSettings(degradation="realistic", seed=3,
                                                                       metrics=("psnr",), progress=False))
    want = f"bicubic: {ref.images[0]['psnr_y']:.2f} dB"
    fig = compare_models(folder / "pic.png", BICUBIC, (0, 0, 16, 16), 2, device="cpu", degradation="realistic",
                         seed=3)
    assert fig.captions[1].startswith(want) and "LR realistic, seed 3" in fig.captions[0]
    other = compare_models(folder / "pic.png", BICUBIC, (0, 0, 16, 16), 2, device="cpu", degradation="realistic",
                           seed=4)
    clean = compare_models(folder / "pic.png", BICUBIC, (0, 0, 16, 16), 2, device="cpu")
    assert len({fig.captions[1], other.captions[1], clean.captions[1]}) == 3
