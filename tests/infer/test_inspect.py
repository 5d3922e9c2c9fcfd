"""`attnsr inspect` and attnsr.infer.inspect: the four networks' maps (tiny configs), the sparsemax
support count against a bisection reference, and the heat-map rendering."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from attnsr.cli.main import main
from attnsr.image.io import from_uint8, save_image
from attnsr.infer.inspect import extract_maps, heatmap, sparsemax_support, support_histogram
from attnsr.models import create, save_model

TINY = {
    "defian": ("defian_s", dict(n_channels=16, n_blocks=1, n_modules=2, reduction=4)),
    "hspan": ("hspan", dict(n_resgroups=2, n_resblocks=1, n_feats=16, reduction=2)),
    "dfsa": ("dfsa", dict(n_resgroups=2, n_resblocks=1, n_feats=16, reduction=4, hpf_groups=4)),
    "fsanet": ("fsanet", dict(n_blocks=1, group=4)),
}
EXPECTED = {
    "defian": [f"defian_module{i}_{k}.png" for i in range(2)
               for k in ("hessian3", "hessian5", "hessian7", "diendec", "attention")],
    "hspan": ["hspan_group0_support.png", "hspan_group1_support.png"],
    "dfsa": ["dfsa_hpf_body_0_body_2.png", "dfsa_hpf_body_1_body_2.png"],
    "fsanet": ["fsanet_block0_low.png", "fsanet_block0_high.png"],
}


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    rng = np.random.default_rng(5)
    smooth = np.cumsum(np.cumsum(rng.normal(0, 1, (14, 12, 3)), 0), 1)
    path = tmp_path_factory.mktemp("img") / "in.png"
    save_image(path, from_uint8(((smooth - smooth.min()) / np.ptp(smooth) * 255).astype(np.uint8)))
    return path


@pytest.mark.parametrize("family", sorted(TINY))
def test_inspect_writes_every_map_and_index(family, image, tmp_path, capsys):
    name, cfg = TINY[family]
    torch.manual_seed(0)
    weights = tmp_path / f"{name}.safetensors"
    save_model(create(name, scale=2, **cfg), weights)
    out = tmp_path / "maps"
    assert main(["inspect", "--model", family, "--weights", str(weights), str(image), "-o", str(out)]) == 0
    index = json.loads((out / "index.json").read_text())
    assert index["network"] == name and index["random_weights"] is False
    assert sorted(m["file"] for m in index["maps"]) == sorted(EXPECTED[family])
    for m in index["maps"]:
        assert (out / m["file"]).stat().st_size > 0 and m["shape"] == [14, 12] and m["what"]
    assert (out / "input.png").is_file() and (out / "output.png").is_file()
    captured = capsys.readouterr()
    assert "RANDOM" not in captured.err
    if family == "hspan":
        for m in index["maps"]:
            s = m["stats"]
            assert 1 <= s["min"] <= s["max"] <= 14 * 12 and sum(s["histogram"].values()) == 14 * 12
        assert captured.out.count("kept positions per query of 168") == 2


def test_inspect_random_weights_warns_and_wrong_family_refused(image, tmp_path, capsys):
    torch.manual_seed(0)
    weights = tmp_path / "dfsa.safetensors"
    save_model(create("dfsa", scale=2, **TINY["dfsa"][1]), weights)
    assert main(["inspect", "--model", "fsanet", "--weights", str(weights), str(image), "-o", str(tmp_path / "x")]) == 2
    assert "not fsanet" in capsys.readouterr().err
    assert main(["inspect", "--model", "defian", str(image), "-o", str(tmp_path / "r"), "--max-size", "8"]) == 0
    err = capsys.readouterr().err
    assert "RANDOM weights" in err and "centre-cropped" in err
    assert json.loads((tmp_path / "r" / "index.json").read_text())["random_weights"] is True


def _support_by_bisection(row: torch.Tensor) -> int:
    """Independent sparsemax: tau with sum(max(z - tau, 0)) = 1 by bisection; count z > tau."""
    z = row.double()
    lo, hi = float(z.max()) - 1, float(z.max())
    for _ in range(200):
        tau = (lo + hi) / 2
        if float((z - tau).clamp(min=0).sum()) > 1:
            lo = tau
        else:
            hi = tau
    return int((z > (lo + hi) / 2).sum())


def test_sparsemax_support_matches_bisection_reference():
    gen = torch.Generator().manual_seed(0)
    for spread in (0.01, 0.3, 3.0, 30.0):  # from nearly uniform (support ~ all) to peaked (support 1)
        scores = torch.randn(6, 50, generator=gen) * spread
        got = sparsemax_support(scores).tolist()
        assert got == [_support_by_bisection(r) for r in scores]
    assert sparsemax_support(torch.zeros(1, 7)).tolist() == [7]  # ties: uniform 1/7 everywhere
    assert sparsemax_support(torch.tensor([[5.0, 0.0, 0.0]])).tolist() == [1]


def test_hspan_support_map_agrees_with_model_attention():
    """The counted support reproduces the HSPA output when its weights are rebuilt densely."""
    from attnsr.infer.inspect import hspa_support_map

    torch.manual_seed(1)
    net = create("hspan", scale=2, **TINY["hspan"][1]).eval()
    block = next(m for m in net.modules() if hasattr(m, "conv_match1"))
    x = torch.randn(1, 16, 5, 6)
    counts = hspa_support_map(block, x, rows_per_chunk=7)
    q = block.conv_match1(x)[0].flatten(1).T.double()
    k = block.conv_match2(x)[0].flatten(1).double()
    scores = q @ k
    z = scores.sort(-1, descending=True).values
    kk = counts.flatten()[:, None]
    tau = ((z.cumsum(-1).gather(1, kk - 1) - 1) / kk)
    weights = (scores - tau).clamp(min=0)
    value = block.conv_assembly(x)[0].flatten(1).T.double()
    want = block.res_scale * (weights @ value).T.reshape(1, 16, 5, 6) + x.double()
    with torch.no_grad():
        got = block(x).double()
    assert torch.allclose(got, want, atol=1e-4)
    assert ((weights > 0).sum(-1) == counts.flatten()).all()


def test_heatmap_and_histogram():
    ramp = heatmap(torch.arange(12.0).reshape(3, 4), min_side=8)
    assert ramp.shape == (6, 8, 3) and ramp.dtype == np.uint8
    assert ramp[0, 0].sum() < ramp[-1, -1].sum()  # larger values are brighter
    flat = heatmap(torch.full((4, 4), 2.0)).reshape(-1, 3)
    assert (flat == flat[0]).all() and flat[0].tolist() == [0, 0, 4]  # constant map: the darkest colour
    assert support_histogram(torch.tensor([1, 2, 3, 4, 5, 2000])) == {"1": 1, "2": 1, "3-4": 2, "5-8": 1, ">1024": 1}


def test_extract_maps_rejects_other_networks():
    from attnsr.errors import ConfigError

    net = create("rcan", scale=2, n_resgroups=1, n_resblocks=1, n_feats=8, reduction=4)
    with pytest.raises(ConfigError, match="no internal maps"):
        extract_maps(net, torch.rand(1, 3, 8, 8))


def test_the_families_of_inspect_come_from_the_registry(monkeypatch) -> None:
    """Variants join their family through the registry entry's ``family`` (no table in inspect)."""
    import dataclasses

    from attnsr.infer import inspect as insp
    from attnsr.models import all_entries

    assert insp.families() == {"defian": ("defian_s", "defian_l"), "hspan": ("hspan",),
                               "dfsa": ("dfsa", "dfsa_edsr"), "fsanet": ("fsanet",)}
    entries = dict(all_entries())
    entries["hspan_tiny"] = dataclasses.replace(entries["hspan"], name="hspan_tiny", family="hspan")
    monkeypatch.setattr("attnsr.models.all_entries", lambda: entries)
    assert insp.families()["hspan"] == ("hspan", "hspan_tiny")
