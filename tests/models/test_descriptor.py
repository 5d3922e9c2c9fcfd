"""The model descriptor: derived for every registry generator and the bundled models."""

from __future__ import annotations

import pytest

from attnsr.infer.resolve import Bicubic, resolve_model
from attnsr.models import all_entries, create
from attnsr.models.descriptor import describe

EXACT = {"rrdbnet", "srvgg", "fasrgan", "fssrgan", "fafssrgan"}  # purely convolutional generators


@pytest.mark.parametrize("name", [n for n, e in all_entries().items() if e.role == "generator"])
def test_every_generator_is_described(name: str) -> None:
    entry = all_entries()[name]
    import torch

    with torch.device("meta"):  # structure only: no weights needed
        model = create(name, scale=entry.scales[-1])
    d = describe(model)
    assert d.scale == entry.scales[-1] and (d.in_channels, d.out_channels) == (3, 3)
    assert d.tiles_exact is (name in EXACT), d.global_layers
    assert d.fp16 is (name != "hspan") and d.bf16
    assert d.purpose == {"srvgg": "real-photo"}.get(name, "GAN" if "srgan" in name else "PSNR")


def test_bundled_and_bicubic() -> None:
    d = describe(resolve_model("default").model)
    assert d.scale == 2 and not d.tiles_exact and "MMCA" in d.global_layers
    assert "tiles not exact (MMCA)" in d.line()
    assert describe(Bicubic(3)).purpose == "baseline"
