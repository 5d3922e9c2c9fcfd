"""FSANet against the official code: conformance vectors, key lists, parameter counts, detection, errors,
and the official four-quadrant chop."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest
import torch
from conformance import fill_sha256, load_vector
from torch import nn

from attnsr.errors import CheckpointError, ConfigError
from attnsr.models import create, from_official
from attnsr.models.fsanet import ENTRIES, FSANet, FSANetConfig, convert, detect, forward_chop

VECTORS = ("x2_case1", "x4_case1", "x2_nb3_case1")
SCALES = (2, 3, 4)
# Spec §4 table (sum of numel over model.parameters(), n_blocks=3, group=4) - typed in from the spec.
SPEC_TOTAL = {2: 18_687_727, 3: 28_687_727, 4: 24_918_255}


def _dir(shared: Path) -> Path:
    return shared / "conformance" / "fsanet"


@pytest.fixture(scope="module")
def vectors(shared: Path) -> dict[str, dict]:
    return {name: load_vector(_dir(shared) / f"{name}.pt") for name in VECTORS}


@pytest.fixture(scope="module")
def models(vectors: dict[str, dict]) -> dict[str, nn.Module]:
    """Each vector's weights through ``from_official`` (no arch: detection must pick fsanet)."""
    return {name: from_official(vec["weights"]) for name, vec in vectors.items()}


def _meta_model(scale: int, n_blocks: int = 3) -> FSANet:
    with torch.device("meta"):  # shapes only: no memory, no init cost
        return FSANet(scale=scale, n_blocks=n_blocks)


def _shapes(sd: dict[str, torch.Tensor]) -> list[list]:
    return [[k, list(v.shape)] for k, v in sd.items()]


@pytest.mark.parametrize("name", VECTORS)
def test_fill_rule_matches_recorded_sha256(vectors: dict[str, dict], name: str) -> None:
    vec = vectors[name]
    assert fill_sha256(vec["weights"]) == vec["fill_sha256"]


@pytest.mark.parametrize("name", VECTORS)
def test_conformance_vector_through_from_official(vectors: dict[str, dict], models: dict, name: str) -> None:
    vec, model = vectors[name], models[name]
    cfg = model.attnsr_config
    assert (cfg.scale, cfg.n_blocks, cfg.group) == (vec["scale"], vec["config"]["n_blocks"], vec["config"]["group"])
    with torch.no_grad():
        out = model(vec["input"])
    assert out.shape == vec["output"].shape
    assert (out - vec["output"]).abs().max().item() <= 1e-5


def test_conformance_through_official_checkpoint_file(vectors: dict[str, dict], tmp_path: Path) -> None:
    vec = vectors["x4_case1"]
    path = tmp_path / "x4.pth.tar"  # the container solver.py writes
    torch.save({"step": 583000, "model_state_dict": vec["weights"], "optimizer_state_dict": {}, "best_psnr": 0}, path)
    model = from_official(path)
    with torch.no_grad():
        out = model(vec["input"])
    assert (out - vec["output"]).abs().max().item() <= 1e-5


def test_float64_forward_matches_float32(models: dict[str, nn.Module]) -> None:
    # Any dtype works; spec §9: float32-vs-float64 gaps stay <= ~2e-6 at these weights.
    model = models["x2_case1"]
    x = torch.rand(1, 3, 9, 7, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        out32 = model(x)
        out64 = copy.deepcopy(model).double()(x.double())
    assert out64.dtype == torch.float64 and out64.shape == (1, 3, 18, 14)
    assert (out64 - out32.double()).abs().max().item() <= 1e-5


@pytest.mark.parametrize("scale", SCALES)
def test_keys_and_shapes_match_official_list(shared: Path, scale: int) -> None:
    official = json.loads((_dir(shared) / f"keys_x{scale}.json").read_text())
    model = _meta_model(scale)
    ours = convert({k: torch.empty(s, device="meta") for k, s in official}, FSANetConfig(scale=scale))
    assert _shapes(model.state_dict()) == official  # same keys, same shapes, same order
    assert _shapes(ours) == official
    assert all(not b for b in model.buffers())  # spec §4: every state-dict entry is a parameter


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("n_blocks", (1, 2, 3))
def test_parameter_counts_match_spec(shared: Path, scale: int, n_blocks: int) -> None:
    counts = json.loads((_dir(shared) / "param_counts.json").read_text())[f"x{scale}"][f"n_blocks={n_blocks}"]
    model = _meta_model(scale, n_blocks)
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert total == counts["parameters_total_incl_weight_g_and_meanshift"]
    assert trainable == counts["trainable_excl_frozen_meanshift"]
    assert len(model.state_dict()) == counts["state_dict_tensors"]
    if n_blocks == 3:
        assert total == SPEC_TOTAL[scale]
        assert trainable == ENTRIES[0].official_params[scale] == SPEC_TOTAL[scale] - 24


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("n_blocks", (1, 2))
def test_detect_infers_scale_blocks_and_group(scale: int, n_blocks: int) -> None:
    sd = _meta_model(scale, n_blocks).state_dict()
    assert detect(sd) == {"scale": scale, "n_blocks": n_blocks, "group": 4}
    with torch.device("meta"):
        sd8 = FSANet(scale=scale, n_blocks=n_blocks, group=8).state_dict()
    assert detect(sd8)["group"] == 8


def test_detect_ignores_foreign_state_dicts() -> None:
    edsr_like = nn.Sequential(nn.Conv2d(3, 64, 3), nn.Conv2d(64, 3, 3)).state_dict()
    rcan_like = {"sub_mean.weight": torch.zeros(3, 3, 1, 1), "head.0.weight": torch.zeros(64, 3, 3, 3)}
    assert detect(edsr_like) is None
    assert detect(rcan_like) is None
    assert detect({}) is None


def test_converter_is_pure(vectors: dict[str, dict]) -> None:
    sd = dict(vectors["x2_case1"]["weights"])
    before = {k: v.clone() for k, v in sd.items()}
    out = convert(sd, FSANetConfig(n_blocks=1))
    assert out is not sd and all(torch.equal(sd[k], before[k]) for k in before)  # converter is pure


def test_inconsistent_scale_is_an_error() -> None:
    sd = dict(_meta_model(2, 1).state_dict())
    sd["body.0.hfm_chain.hfm1.bp1.dconv.weight"] = torch.empty(64, 64, 8, 8, device="meta")  # x4 kernel
    with pytest.raises(CheckpointError, match="cannot infer scale"):
        detect(sd)


@pytest.mark.parametrize("bad", [{"scale": 8}, {"n_blocks": 0}, {"group": 3}])
def test_config_rejects_unsupported_values(bad: dict) -> None:
    with pytest.raises(ConfigError, match="fsanet"):
        create("fsanet", **{"scale": 2, **bad})


# ------------------------------------------------------------------------------------- forward_chop


class _TaggedNearest(nn.Module):
    """Nearest x`scale` upsampling plus 10 * (index of the sample in the batch); records input sizes."""

    def __init__(self, scale: int) -> None:
        super().__init__()
        self.scale = scale
        self.seen: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(tuple(x.shape))
        tag = 10.0 * torch.arange(x.shape[0], dtype=x.dtype).view(-1, 1, 1, 1)
        return x.repeat_interleave(self.scale, 2).repeat_interleave(self.scale, 3) + tag


@pytest.mark.parametrize("h,w,scale", [(45, 51, 2), (50, 47, 3), (64, 64, 4)])
def test_forward_chop_assembles_quadrants_as_sample_py(h: int, w: int, scale: int) -> None:
    x = torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(h + w))
    toy = _TaggedNearest(scale)
    out = forward_chop(toy, x)
    hh, wh = h // 2, w // 2
    assert toy.seen == [(4, 3, hh + 20, wh + 20)]  # one batch of four (h/2+20) x (w/2+20) patches
    ref = x.repeat_interleave(scale, 2).repeat_interleave(scale, 3)
    expected_tag = torch.zeros(1, 1, h * scale, w * scale)
    expected_tag[..., : scale * hh, scale * wh:] = 10  # TR patch is batch index 1
    expected_tag[..., scale * hh:, : scale * wh] = 20  # BL
    expected_tag[..., scale * hh:, scale * wh:] = 30  # BR
    assert out.shape == (1, 3, h * scale, w * scale)
    assert torch.equal(out - ref, expected_tag.expand_as(out))


def test_forward_chop_small_image_and_batch() -> None:
    x = torch.rand(2, 3, 9, 30, generator=torch.Generator().manual_seed(1))
    toy = _TaggedNearest(2)
    out = forward_chop(toy, x)
    assert toy.seen == [(8, 3, 9, 30)]  # patches clamped to the image
    ref = x.repeat_interleave(2, 2).repeat_interleave(2, 3)
    assert torch.allclose(out[:, :, :8, :30] - ref[:, :, :8, :30], torch.tensor([0.0, 10.0]).view(2, 1, 1, 1))


def test_forward_chop_on_fsanet_differs_from_whole_image(models: dict[str, nn.Module]) -> None:
    # Spec §6: attention pools over each patch, so chopping changes the output (not only near seams).
    model = models["x2_case1"]
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        full, chopped = model(x), forward_chop(model, x, shave=4)
        tl = model(x[..., :12, :12])
    assert chopped.shape == full.shape
    assert (chopped - full).abs().max().item() > 1e-4
    assert (chopped[..., :16, :16] - tl[..., :16, :16]).abs().max().item() <= 1e-5  # TL quadrant = TL patch
