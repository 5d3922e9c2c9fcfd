"""The checkpoint-detection helpers the networks' detectors and converters share (attnsr.models.keys)."""

import re

import pytest
import torch

from attnsr.models import get_entry
from attnsr.models.keys import (
    conv_width,
    count_indexed,
    fits_grammar,
    infer_rgb_range,
    infer_scale,
    key_indices,
    same_layout,
    with_bn_counters,
)


def _sd(*keys: str, shape: tuple[int, ...] = (4, 3, 3, 3)) -> dict[str, torch.Tensor]:
    return {k: torch.zeros(shape) for k in keys}


def test_key_indices_and_consecutive_counts():
    sd = _sd("body.0.weight", "body.1.weight", "body.3.weight", "body.10.body.0.weight", "head.0.weight")
    assert key_indices(sd, r"^body\.(\d+)\.") == {0, 1, 3, 10}
    assert count_indexed(sd, "body.{}.weight") == 2  # stops at the first gap
    tail = _sd("tail.0.0.weight", "tail.0.2.weight", "tail.0.4.weight", "tail.0.8.weight")
    assert count_indexed(tail, "tail.0.{}.weight", step=2) == 3
    assert count_indexed(tail, "tail.0.{}.weight") == 1


def test_conv_width_and_grammar():
    sd = {"a.weight": torch.zeros(8, 5, 3, 3), "a.bias": torch.zeros(8)}
    assert conv_width(sd, "a.weight") == (8, 5)
    assert conv_width(sd, "a.bias") is None and conv_width(sd, "missing") is None
    grammar = re.compile(r"^a\.(?:weight|bias)$")
    assert fits_grammar(sd, grammar, ("a.weight",))
    assert not fits_grammar(sd, grammar, ("b.weight",))  # a signature key is missing
    assert not fits_grammar({**sd, "b.weight": torch.zeros(1)}, grammar)  # a key outside the grammar


def test_edsr_family_upsampler_and_meanshift():
    n = 16
    assert infer_scale({"tail.0.0.weight": torch.zeros(9 * n, n, 3, 3)}, n) == 3
    x4 = {"tail.0.0.weight": torch.zeros(4 * n, n, 3, 3), "tail.0.2.weight": torch.zeros(4 * n, n, 3, 3)}
    assert infer_scale(x4, n) == 4 and infer_scale(x4, 2 * n) is None and infer_scale({}, n) is None
    from attnsr.ops.common import DIV2K_MEAN
    assert infer_rgb_range({"sub_mean.bias": -torch.tensor(DIV2K_MEAN)}) == 1.0
    assert infer_rgb_range({"sub_mean.bias": -255 * torch.tensor(DIV2K_MEAN)}) == 255.0


def test_shared_converters_copy_without_mutating():
    sd = {"bn.running_mean": torch.zeros(2), "bn.running_var": torch.ones(2), "conv.weight": torch.ones(1)}
    before = dict(sd)
    out = same_layout(sd, None)
    assert out == sd and out is not sd
    filled = with_bn_counters(sd)
    assert set(filled) == set(sd) | {"bn.num_batches_tracked"} and int(filled["bn.num_batches_tracked"]) == 0
    assert sd.keys() == before.keys()
    kept = with_bn_counters({**sd, "bn.num_batches_tracked": torch.tensor(7)})
    assert int(kept["bn.num_batches_tracked"]) == 7


@pytest.mark.parametrize("name", ["hspan", "dfsa", "dfsa_edsr", "srvgg"])
def test_networks_whose_keys_are_ours_use_the_one_copying_converter(name):
    assert get_entry(name).convert is same_layout


@pytest.mark.parametrize("name", ["fasrgan_unet", "fssrgan", "fafssrgan", "fssrgan_vgg192", "fafssrgan_unet"])
def test_bn_counter_converter_is_shared(name):
    assert get_entry(name).convert is with_bn_counters
