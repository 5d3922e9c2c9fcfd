"""Frequency view: self recovers everything, blur loses the high band, energy lands in the right band."""

from __future__ import annotations

import csv
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from attnsr.errors import AttnsrError, ImageError
from attnsr.image.resize import imresize
from attnsr.metrics.spectrum import combine, plot_spectrum, radial_power, write_spectrum_csv


@pytest.fixture(scope="module")
def butterfly(shared) -> torch.Tensor:
    arr = np.array(Image.open(shared / "datasets" / "Set5" / "butterfly.png").convert("RGB"))
    return torch.from_numpy(arr).permute(2, 0, 1)[None].double() / 255.0


def test_self_recovers_everything(butterfly: torch.Tensor) -> None:
    s = radial_power(butterfly, butterfly)
    assert torch.equal(s.recovered, torch.ones(3, dtype=torch.float64))
    assert torch.equal(s.energy_ratio, torch.ones(3, dtype=torch.float64))
    assert (s.band_hr > 0).all() and (s.profile_err == 0).all()


def test_bicubic_round_trip_loses_high_frequencies(butterfly: torch.Tensor) -> None:
    hr = butterfly[..., :256, :256]
    sr = imresize(imresize(hr, 1 / 4), 4.0)
    rec = radial_power(sr, hr).recovered
    low, mid, high = rec.tolist()
    assert low > 0.9 and high < 0.2 and low > mid > high
    assert (radial_power(sr, hr).energy_ratio[1:] < 1).all()


@pytest.mark.parametrize(("cycles", "band"), [(6, 0), (26, 1), (45, 2)])
def test_a_sinusoid_lands_in_its_band(cycles: int, band: int) -> None:
    # `cycles` periods over 128 px (on the FFT grid: no leakage) -> rho = 2 cycles / 128: 0.09, 0.41, 0.70
    x = torch.arange(128, dtype=torch.float64)
    hr = (0.5 + 0.3 * torch.cos(2 * math.pi * cycles / 128 * x)).expand(1, 1, 128, 128)
    s = radial_power(hr, hr, window=False)
    assert s.band_hr.argmax() == band
    assert s.band_hr[band] == pytest.approx(0.3**2 / 2, rel=1e-9)  # mean square of the sinusoid
    zeroed = radial_power(torch.full_like(hr, 0.5), hr, window=False)
    assert zeroed.recovered[band] == 0.0


def test_combine_pools_images_and_csv(butterfly: torch.Tensor, tmp_path: Path) -> None:
    a, b = butterfly[..., :128, :128], butterfly[..., 100:196, 50:210]
    blur = torch.nn.functional.avg_pool2d
    sa, sb = radial_power(blur(a, 3, 1, 1), a), radial_power(blur(b, 3, 1, 1), b)
    pooled = combine([sa, sb])
    assert pooled.count == 2 and torch.allclose(pooled.band_err, sa.band_err + sb.band_err)
    path = write_spectrum_csv(tmp_path / "spectrum.csv", {"blur": pooled, "self": radial_power(a, a)})
    rows = list(csv.DictReader(path.open()))
    assert [(r["label"], r["band"]) for r in rows][:4] == [("blur", "low"), ("blur", "mid"), ("blur", "high"),
                                                          ("self", "low")]
    assert float(rows[2]["recovered"]) == pytest.approx(float(pooled.recovered[2]))
    assert float(rows[3]["recovered"]) == 1.0
    profile = list(csv.reader((tmp_path / "spectrum_profile.csv").open()))
    assert profile[0][:3] == ["label", "rho_from", "rho_to"] and len(profile) == 1 + 2 * 64


def test_plot_needs_matplotlib(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if not installed
    s = radial_power(torch.rand(1, 1, 16, 16), torch.rand(1, 1, 16, 16))
    with pytest.raises(AttnsrError, match=r"pip install 'attnsr\[plot\]'"):
        plot_spectrum(tmp_path / "x.png", {"a": s})


def test_plot_writes_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="optional extra 'plot' not installed")
    s = radial_power(torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32))
    path = plot_spectrum(tmp_path / "plot.png", {"noise": s})
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_shape_mismatch() -> None:
    with pytest.raises(ImageError, match=r"\(1, 3, 8, 8\) and \(1, 3, 8, 9\)"):
        radial_power(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 9))
