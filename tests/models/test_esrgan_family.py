"""ESRGAN-family checkpoints as users download them (issue 15 §3, issue 17): RRDBNet in the BasicSR-new and
2019 ESRGAN layouts, Real-ESRGAN's SRVGGNetCompact and BasicSR's RCAN. Conformance vectors
(../shared/conformance/esrgan), containers, random-config round trips against independent functional
forwards written from the reference code, scale ambiguity, and the engine/CLI on such files."""

from __future__ import annotations

import json
import math
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conformance import fill_crc32_randn_v1, load_vector
from PIL import Image

from attnsr.cli.main import main
from attnsr.errors import CheckpointError
from attnsr.infer.engine import Upscaler
from attnsr.models import all_entries, create, from_official, get_entry, load_model, rrdbnet, save_model

TOL = 1e-5
DIV2K = (0.4488, 0.4371, 0.4040)

# vector -> (entry automatic detection must choose, config it must find)
VECTORS: dict[str, tuple[str, dict[str, Any]]] = {
    "realesrgan_rrdb_x4.pt": ("rrdbnet", dict(scale=4, in_nc=3, out_nc=3, nf=64, nb=23, gc=32, unshuffle=1)),
    "realesrgan_rrdb_x2.pt": ("rrdbnet", dict(scale=2, in_nc=3, out_nc=3, nf=64, nb=23, gc=32, unshuffle=2)),
    "realesrgan_srvgg_x4_conv32.pt": ("srvgg", dict(scale=4, in_nc=3, out_nc=3, nf=64, num_conv=32, act="prelu")),
    "basicsr_rcan_x2.pt": ("rcan", dict(scale=2, n_resgroups=10, n_resblocks=20, n_feats=64, reduction=16,
                                        rgb_range=255.0)),
    "esrgan2019_rrdb_x4.pt": ("rrdbnet", dict(scale=4, in_nc=3, out_nc=3, nf=64, nb=23, gc=32, unshuffle=1)),
}
# Entries that share a detector with the one auto-detection picks (same network under another name).
ALIASES = {"rrdbnet": {"fasrgan"}}


def _vector(shared: Path, name: str) -> dict[str, Any]:
    return load_vector(shared / "conformance" / "esrgan" / name)


def _max_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape, f"{tuple(a.shape)} vs {tuple(b.shape)}"
    return (a - b).abs().max().item()


# ------------------------------------------------------------------------------------ conformance vectors


def _as_basicsr_new_names(keys: list) -> list:
    """The 2019 vector's key list under the BasicSR-new names of the same tensors (see below)."""
    rename = {"conv_first": "conv_first", "trunk_conv": "conv_body", "upconv1": "conv_up1", "upconv2": "conv_up2",
              "HRconv": "conv_hr", "conv_last": "conv_last"}
    out = []
    for key, shape, dtype in keys:
        head, rest = key.split(".", 1)
        if head == "RRDB_trunk":
            n, rdb, tail = rest.split(".", 2)
            new = f"body.{n}.{rdb.lower()}.{tail}"
        else:
            new = f"{rename[head]}.{rest}"
        out.append([new, shape, dtype])
    return out


@pytest.mark.parametrize("name", [n for n in VECTORS if n != "esrgan2019_rrdb_x4.pt"])
def test_conformance_vector(shared: Path, name: str) -> None:
    vec = _vector(shared, name)
    assert vec["fill"]["gain"] == (1.0 if "srvgg" in name else 0.5)  # the fill used the file's gain
    model = from_official(vec["weights"])
    assert (model.attnsr_name, model.attnsr_config) == (VECTORS[name][0], get_entry(VECTORS[name][0]).make_config(
        **VECTORS[name][1]))
    with torch.no_grad():
        assert _max_diff(model(vec["input"]), vec["output"]) <= TOL


def test_esrgan2019_vector(shared: Path) -> None:
    """The 2019 vector's ``output`` was computed from weights filled under the *BasicSR-new* names (seed 14,
    gain 0.5) and stored under the 2019 names: filled that way it reproduces exactly. Filled under its own
    2019 names (what the README's fill rule says) neither our loader nor an independent functional forward
    of xinntao/ESRGAN's ``RRDBNet_arch.py`` reproduces it (0.6 apart): a defect of that vector, see the
    strict xfail below."""
    vec = _vector(shared, "esrgan2019_rrdb_x4.pt")
    new_named = fill_crc32_randn_v1(_as_basicsr_new_names(vec["keys"]), vec["fill"]["seed"], vec["fill"]["gain"])
    as_2019 = OrderedDict((k, t) for (k, _, _), t in zip(vec["keys"], new_named.values()))
    model = from_official({"params_ema": as_2019})
    assert model.attnsr_config == rrdbnet.RRDBNetConfig(**VECTORS["esrgan2019_rrdb_x4.pt"][1])
    with torch.no_grad():
        out = model(vec["input"])
        assert _max_diff(out, vec["output"]) <= TOL
        # our loader agrees with the independent 2019 forward on the file's own fill
        own = vec["weights"]
        assert _max_diff(from_official(own)(vec["input"]), ref_rrdbnet(own, vec["input"], ESRGAN_2019)) <= TOL


@pytest.mark.xfail(strict=True, reason="shared/conformance/esrgan/esrgan2019_rrdb_x4.pt: output computed from "
                   "weights filled under the BasicSR-new key names, not its own 2019 names (0.6 max diff)")
def test_esrgan2019_vector_under_its_own_names(shared: Path) -> None:
    vec = _vector(shared, "esrgan2019_rrdb_x4.pt")
    with torch.no_grad():
        assert _max_diff(from_official(vec["weights"])(vec["input"]), vec["output"]) <= TOL


def test_each_vector_is_claimed_by_its_network_only(shared: Path) -> None:
    entries = all_entries()
    for name, (chosen, _) in VECTORS.items():
        sd = _vector(shared, name)["weights"]
        claimed = {n for n, e in entries.items() if e.detect is not None and e.detect(sd) is not None}
        assert claimed == {chosen} | ALIASES.get(chosen, set()), name


# --------------------------------------------------------------- independent reference forwards and keys

NEW = dict(first="conv_first", trunk="body", rdb="rdb", trunk_conv="conv_body", up="conv_up", hr="conv_hr",
           last="conv_last")
ESRGAN_2019 = dict(first="conv_first", trunk="RRDB_trunk", rdb="RDB", trunk_conv="trunk_conv", up="upconv",
                   hr="HRconv", last="conv_last")


def _conv(sd: dict, x: torch.Tensor, name: str) -> torch.Tensor:
    w = sd[f"{name}.weight"]
    return F.conv2d(x, w, sd[f"{name}.bias"], padding=w.shape[-1] // 2)


def rrdb_shapes(n: dict, in_ch: int, out_ch: int, nf: int, nb: int, gc: int, stages: int) -> dict[str, tuple]:
    """Official key -> shape of BasicSR's / the 2019 repo's RRDBNet (``in_ch`` after any pixel-unshuffle)."""
    convs = [(n["first"], nf, in_ch)]
    for i in range(nb):
        for k in (1, 2, 3):
            convs += [(f"{n['trunk']}.{i}.{n['rdb']}{k}.conv{j}", gc if j < 5 else nf, nf + (j - 1) * gc)
                      for j in range(1, 6)]
    convs += [(n["trunk_conv"], nf, nf)] + [(f"{n['up']}{s}", nf, nf) for s in range(1, stages + 1)]
    convs += [(n["hr"], nf, nf), (n["last"], out_ch, nf)]
    shapes: dict[str, tuple] = {}
    for name, cout, cin in convs:
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (cout, cin, 3, 3), (cout,)
    return shapes


def ref_rrdbnet(sd: dict, x: torch.Tensor, n: dict, unshuffle: int = 1) -> torch.Tensor:
    """RRDBNet forward from the reference code, on official names (BasicSR-new or 2019)."""
    lrelu = lambda t: F.leaky_relu(t, 0.2)  # noqa: E731
    if unshuffle > 1:
        x = F.pixel_unshuffle(x, unshuffle)
    fea = _conv(sd, x, n["first"])
    trunk, i = fea, 0
    while f"{n['trunk']}.{i}.{n['rdb']}1.conv1.weight" in sd:
        out = trunk
        for k in (1, 2, 3):
            p, feats = f"{n['trunk']}.{i}.{n['rdb']}{k}", [out]
            for j in range(1, 5):
                feats.append(lrelu(_conv(sd, torch.cat(feats, 1), f"{p}.conv{j}")))
            out = _conv(sd, torch.cat(feats, 1), f"{p}.conv5") * 0.2 + out
        trunk, i = out * 0.2 + trunk, i + 1
    fea = fea + _conv(sd, trunk, n["trunk_conv"])
    s = 1
    while f"{n['up']}{s}.weight" in sd:
        fea, s = lrelu(_conv(sd, F.interpolate(fea, scale_factor=2, mode="nearest"), f"{n['up']}{s}")), s + 1
    return _conv(sd, lrelu(_conv(sd, fea, n["hr"])), n["last"])


def srvgg_shapes(in_ch: int, nf: int, num_conv: int, scale: int, prelu: bool) -> dict[str, tuple]:
    shapes: dict[str, tuple] = {}
    for i in range(num_conv + 2):
        cin, cout = (in_ch if i == 0 else nf), (nf if i <= num_conv else in_ch * scale * scale)
        shapes[f"body.{2 * i}.weight"], shapes[f"body.{2 * i}.bias"] = (cout, cin, 3, 3), (cout,)
        if prelu and i <= num_conv:
            shapes[f"body.{2 * i + 1}.weight"] = (nf,)
    return shapes


def ref_srvgg(sd: dict, x: torch.Tensor, num_conv: int, scale: int, act: str) -> torch.Tensor:
    """Real-ESRGAN's SRVGGNetCompact forward, on official names."""
    out = x
    for i in range(num_conv + 1):
        out = _conv(sd, out, f"body.{2 * i}")
        if act == "prelu":
            out = F.prelu(out, sd[f"body.{2 * i + 1}.weight"])
        else:
            out = F.relu(out) if act == "relu" else F.leaky_relu(out, 0.1)
    out = F.pixel_shuffle(_conv(sd, out, f"body.{2 * num_conv + 2}"), scale)
    return out + F.interpolate(x, scale_factor=scale, mode="nearest")


def rcan_shapes(nf: int, ng: int, nb: int, r: int, scale: int) -> dict[str, tuple]:
    """BasicSR RCAN key -> shape (``basicsr/archs/rcan_arch.py``)."""
    convs = [("conv_first", nf, 3, 3)]
    for g in range(ng):
        for b in range(nb):
            p = f"body.{g}.residual_group.{b}.rcab"
            convs += [(f"{p}.0", nf, nf, 3), (f"{p}.2", nf, nf, 3), (f"{p}.3.attention.1", nf // r, nf, 1),
                      (f"{p}.3.attention.3", nf, nf // r, 1)]
        convs.append((f"body.{g}.conv", nf, nf, 3))
    convs.append(("conv_after_body", nf, nf, 3))
    if scale == 3:
        ups = [("upsample.0", 9 * nf)]
    else:
        ups = [(f"upsample.{2 * i}", 4 * nf) for i in range(int(math.log2(scale)))]
    convs += [(name, cout, nf, 3) for name, cout in ups] + [("conv_last", 3, nf, 3)]
    shapes: dict[str, tuple] = {}
    for name, cout, cin, k in convs:
        shapes[f"{name}.weight"], shapes[f"{name}.bias"] = (cout, cin, k, k), (cout,)
    return shapes


def ref_rcan(sd: dict, x: torch.Tensor, img_range: float = 255.0) -> torch.Tensor:
    """BasicSR's RCAN forward (res_scale 1, DIV2K mean), on BasicSR names."""
    mean = torch.tensor(DIV2K).view(1, 3, 1, 1)
    x = _conv(sd, (x - mean) * img_range, "conv_first")
    res, g = x, 0
    while f"body.{g}.conv.weight" in sd:
        out, b = res, 0
        while f"body.{g}.residual_group.{b}.rcab.0.weight" in sd:
            p = f"body.{g}.residual_group.{b}.rcab"
            y = _conv(sd, F.relu(_conv(sd, out, f"{p}.0")), f"{p}.2")
            att = torch.sigmoid(_conv(sd, F.relu(_conv(sd, y.mean((2, 3), keepdim=True), f"{p}.3.attention.1")),
                                      f"{p}.3.attention.3"))
            out, b = y * att + out, b + 1
        res, g = _conv(sd, out, f"body.{g}.conv") + res, g + 1
    res = _conv(sd, res, "conv_after_body") + x
    i = 0
    while f"upsample.{i}.weight" in sd:
        up = _conv(sd, res, f"upsample.{i}")
        res, i = F.pixel_shuffle(up, 3 if up.shape[1] == 9 * res.shape[1] else 2), i + 2
    return _conv(sd, res, "conv_last") / img_range + mean


def random_sd(shapes: dict[str, tuple], seed: int, gain: float = 0.5) -> dict[str, torch.Tensor]:
    """Official-format random weights: fan-in-scaled normal (gain) for convs, 0.05·N(0,1) for 1-d tensors."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for key, shape in shapes.items():
        z = torch.randn(shape, generator=g)
        sd[key] = z * gain / math.sqrt(math.prod(shape[1:])) if len(shape) >= 2 else z * 0.05
    return sd


def _input(h: int, w: int, seed: int = 3) -> torch.Tensor:
    return torch.rand(1, 3, h, w, generator=torch.Generator().manual_seed(seed))


# ----------------------------------------------------------------------------- random-config round trips

RRDB_CASES = [  # (layout, nf, nb, gc, scale)
    ("new", 8, 1, 4, 4), ("new", 12, 2, 8, 2), ("new", 8, 3, 6, 1), ("new", 16, 1, 16, 4),
    ("2019", 8, 2, 4, 4), ("2019", 12, 1, 8, 2),
]


@pytest.mark.parametrize("layout,nf,nb,gc,scale", RRDB_CASES)
def test_rrdbnet_random_configs_detect_and_match_reference(layout: str, nf: int, nb: int, gc: int,
                                                           scale: int) -> None:
    names = NEW if layout == "new" else ESRGAN_2019
    # BasicSR keeps two ×2 stages and pixel-unshuffles for ×2/×1; the 2019 code has one ×2 stage per factor 2
    unshuffle = {4: 1, 2: 2, 1: 4}[scale] if layout == "new" else 1
    stages = 2 if layout == "new" else int(math.log2(scale))
    sd = random_sd(rrdb_shapes(names, 3 * unshuffle**2, 3, nf, nb, gc, stages), seed=nf * 100 + nb)
    found = rrdbnet.detect(sd)
    assert found == dict(in_nc=3, out_nc=3, nf=nf, nb=nb, gc=gc, unshuffle=unshuffle, scale=scale)
    model = from_official(sd)
    x = _input(8, 12)
    with torch.no_grad():
        out = model(x)
        assert out.shape == (1, 3, 8 * scale, 12 * scale)
        assert _max_diff(out, ref_rrdbnet(sd, x, names, unshuffle)) <= TOL


def test_rrdbnet_unshuffle_pads_odd_sizes_and_matches_on_the_core() -> None:
    """BasicSR's ×2/×1 need sides divisible by 2/4; ours reflect-pads bottom/right and crops."""
    sd = random_sd(rrdb_shapes(NEW, 12, 3, 8, 1, 4, 2), seed=5)
    model = from_official(sd)
    x = _input(9, 13)
    with torch.no_grad():
        out = model(x)
        padded = F.pad(x, (0, 1, 0, 1), mode="reflect")
        assert out.shape == (1, 3, 18, 26)
        assert _max_diff(out, ref_rrdbnet(sd, padded, NEW, 2)[..., :18, :26]) <= TOL


@pytest.mark.parametrize("num_conv,scale,act", [(0, 4, "prelu"), (3, 2, "prelu"), (2, 1, "prelu"), (2, 3, "relu"),
                                                 (1, 4, "relu"), (2, 2, "leakyrelu")])
def test_srvgg_random_configs_detect_and_match_reference(num_conv: int, scale: int, act: str) -> None:
    sd = random_sd(srvgg_shapes(3, 8, num_conv, scale, act == "prelu"), seed=num_conv * 10 + scale, gain=1.0)
    if act == "prelu":  # slopes around PReLU's 0.25 init
        sd = {k: (v + 0.25 if v.dim() == 1 and int(k.split(".")[1]) % 2 else v) for k, v in sd.items()}
    found = get_entry("srvgg").detect(sd)
    expected = dict(in_nc=3, out_nc=3, nf=8, num_conv=num_conv, scale=scale)
    if act != "prelu":
        expected["act"] = "relu"  # weightless activations: relu unless the caller says leakyrelu
    assert found == expected
    model = from_official(sd, **({"act": "leakyrelu"} if act == "leakyrelu" else {}))
    x = _input(7, 9)
    with torch.no_grad():
        assert _max_diff(model(x), ref_srvgg(sd, x, num_conv, scale, act)) <= TOL


@pytest.mark.parametrize("nf,ng,nb,r,scale", [(16, 2, 2, 4, 2), (8, 1, 3, 2, 3), (16, 3, 1, 8, 4)])
def test_basicsr_rcan_random_configs_detect_and_match_reference(nf: int, ng: int, nb: int, r: int,
                                                                scale: int) -> None:
    sd = random_sd(rcan_shapes(nf, ng, nb, r, scale), seed=nf + ng + nb + scale)
    found = get_entry("rcan").detect(sd)
    assert found == dict(scale=scale, n_resgroups=ng, n_resblocks=nb, n_feats=nf, reduction=r, rgb_range=255.0)
    model = from_official(sd)
    x = _input(6, 5)
    with torch.no_grad():
        assert _max_diff(model(x), ref_rcan(sd, x)) <= TOL
    # an img_range of 1 is not in the file: the caller says so
    with torch.no_grad():
        assert _max_diff(from_official(sd, rgb_range=1.0)(x), ref_rcan(sd, x, img_range=1.0)) <= TOL


# ------------------------------------------------------------------------------ containers and priorities

LAYOUT_SDS = {
    "rrdb_new": lambda seed: random_sd(rrdb_shapes(NEW, 3, 3, 8, 1, 4, 2), seed),
    "rrdb_2019": lambda seed: random_sd(rrdb_shapes(ESRGAN_2019, 3, 3, 8, 1, 4, 2), seed),
    "srvgg": lambda seed: random_sd(srvgg_shapes(3, 8, 2, 4, True), seed, gain=1.0),
    "rcan_basicsr": lambda seed: random_sd(rcan_shapes(8, 1, 2, 2, 2), seed),
}


@pytest.mark.parametrize("layout", list(LAYOUT_SDS))
@pytest.mark.parametrize("wrapper", ["params_ema", "params", "bare"])
def test_loads_from_each_container(tmp_path: Path, layout: str, wrapper: str) -> None:
    sd = LAYOUT_SDS[layout](1)
    path = tmp_path / f"{layout}.pth"
    torch.save(sd if wrapper == "bare" else {wrapper: sd}, path)
    x = _input(8, 8)
    with torch.no_grad():
        assert torch.equal(from_official(path)(x), from_official(sd)(x))


@pytest.mark.parametrize("layout", list(LAYOUT_SDS))
def test_params_ema_is_preferred_over_params(tmp_path: Path, layout: str) -> None:
    ema, raw = LAYOUT_SDS[layout](1), LAYOUT_SDS[layout](2)
    path = tmp_path / "both.pth"
    torch.save({"params": raw, "params_ema": ema}, path)  # params first: order must not matter
    x = _input(8, 8)
    with torch.no_grad():
        got = from_official(path)(x)
        assert torch.equal(got, from_official(ema)(x))
        assert not torch.allclose(got, from_official(raw)(x))


def test_saved_in_our_format_round_trips(tmp_path: Path) -> None:
    sd = random_sd(rrdb_shapes(NEW, 12, 3, 8, 1, 4, 2), seed=7)
    model = from_official({"params_ema": sd})
    path = tmp_path / "x2plus.safetensors"
    save_model(model, path)
    again = load_model(path)
    assert again.attnsr_config == model.attnsr_config
    x = _input(6, 10)
    with torch.no_grad():
        assert torch.equal(again(x), model(x))


# ------------------------------------------------------------------------------------------------ errors


def test_foreign_file_gives_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "foreign.pth"
    torch.save({"params_ema": {"encoder.conv.weight": torch.zeros(4, 3, 3, 3)}}, path)
    with pytest.raises(CheckpointError, match="not recognised") as err:
        from_official(path)
    assert "\n" not in str(err.value)
    img = _png(tmp_path / "a.png", (6, 5, 3))
    assert main(["upscale", str(img), "-o", str(tmp_path / "o"), "--weights", str(path), "--quiet"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "not recognised" in lines[0]


def test_broken_new_layout_lists_every_problem_under_official_names(tmp_path: Path) -> None:
    sd = dict(random_sd(rrdb_shapes(NEW, 3, 3, 8, 2, 4, 2), seed=1))
    del sd["conv_up1.bias"]
    sd["body.1.rdb2.conv3.weight"] = torch.zeros(4, 8, 3, 3)
    sd["conv_hr.extra"] = torch.zeros(1)
    path = tmp_path / "broken.pth"
    torch.save({"params_ema": sd}, path)
    with pytest.raises(CheckpointError) as err:
        from_official(path)
    msg = str(err.value)
    assert str(path) in msg and "\n" not in msg
    assert "missing 1: ['conv_up1.bias']" in msg and "unexpected 1: ['conv_hr.extra']" in msg
    assert "mis-shaped 1: ['body.1.rdb2.conv3.weight" in msg


def _png(path: Path, shape: tuple[int, ...], seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    Image.fromarray((rng.random(shape) * 255).astype(np.uint8)).save(path)
    return path


def test_old_arch_x3_needs_the_scale(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """Issue 17: an old-arch ×3 RRDBNet has the keys of a ×2 one; it used to load silently as ×2."""
    torch.manual_seed(0)
    ref = create("rrdbnet", scale=3, nf=8, nb=1).eval()
    path = tmp_path / "esrgan_x3.pth"
    torch.save(ref.state_dict(), path)
    with pytest.raises(CheckpointError, match=r"cannot tell x2 from x3; pass the scale") as err:
        from_official(path)
    assert str(path) in str(err.value)
    model = from_official(path, scale=3)
    x = _input(5, 7)
    with torch.no_grad():
        assert torch.equal(model(x), ref(x)) and model(x).shape == (1, 3, 15, 21)
    with pytest.raises(CheckpointError, match="x2 from x3, not x4"):
        from_official(path, scale=4)
    img = _png(tmp_path / "a.png", (6, 5, 3))
    assert main(["upscale", str(img), "-o", str(tmp_path / "o"), "--weights", str(path), "--quiet"]) == 2
    err_lines = capsys.readouterr().err.strip().splitlines()
    assert len(err_lines) == 1 and "--scale" in err_lines[0]
    assert main(["upscale", str(img), "-o", str(tmp_path / "o"), "--weights", str(path), "--scale", "3",
                 "--quiet", "--device", "cpu"]) == 0
    assert Image.open(tmp_path / "o" / "a_x3.png").size == (15, 18)


@pytest.mark.parametrize("layout", ["old", "new", "srvgg"])
def test_a_visible_scale_is_not_overridden(tmp_path: Path, layout: str) -> None:
    if layout == "old":
        sd = create("rrdbnet", scale=4, nf=8, nb=1).state_dict()
    elif layout == "new":
        sd = random_sd(rrdb_shapes(NEW, 3, 3, 8, 1, 4, 2), seed=1)
    else:
        sd = random_sd(srvgg_shapes(3, 8, 1, 4, True), seed=1)
    path = tmp_path / "x4.pth"
    torch.save({"params_ema": sd}, path)
    with pytest.raises(CheckpointError, match=r"the model is x4 .*cannot run at x2"):
        from_official(path, scale=2)
    assert from_official(path, scale=4).attnsr_config.scale == 4


def test_basicsr_rcan_without_upsampler_needs_the_scale() -> None:
    sd = {k: v for k, v in random_sd(rcan_shapes(8, 1, 1, 2, 2), seed=1).items() if not k.startswith("upsample.")}
    with pytest.raises(CheckpointError, match="do not show its scale"):
        from_official(sd)
    with pytest.raises(CheckpointError, match=r"missing 2: \['upsample.0.weight', 'upsample.0.bias'\]"):
        from_official(sd, scale=2)


# -------------------------------------------------------------------------------------- engine and CLI


def test_parameter_counts_of_released_configurations() -> None:
    with torch.device("meta"):
        general = create("srvgg")  # realesr-general-x4v3
        x2plus = create("rrdbnet", scale=2, unshuffle=2)  # RealESRGAN_x2plus
        x4plus = create("rrdbnet", scale=4)
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(general) == get_entry("srvgg").official_params[4] == 1_213_296
    assert count(x4plus) == 16_697_987
    assert count(x2plus) == 16_697_987 + 64 * 9 * 9  # conv_first takes 12 channels instead of 3


def test_srvgg_tiled_equals_untiled_exactly_and_self_ensemble_runs() -> None:
    sd = random_sd(srvgg_shapes(3, 8, 4, 2, True), seed=4, gain=1.0)
    model = from_official(sd)
    x = _input(37, 29, seed=1)
    whole = Upscaler(model, device="cpu", tile=0).upscale_tensor(x)
    radius = 4 + 2  # num_conv + 2 convolutions of radius 1 each
    for tile in (8, 13):
        tiled = Upscaler(model, device="cpu", tile=tile, overlap=radius).upscale_tensor(x)
        assert _max_diff(tiled, whole) <= 1e-6
    ens = Upscaler(model, device="cpu", tile=0, self_ensemble=True).upscale_tensor(x)
    tiled_ens = Upscaler(model, device="cpu", tile=13, overlap=radius, self_ensemble=True).upscale_tensor(x)
    assert ens.shape == whole.shape and torch.isfinite(ens).all()
    assert _max_diff(tiled_ens, ens) <= 1e-6


def test_new_layout_x2_runs_tiled_through_the_engine() -> None:
    model = from_official({"params_ema": random_sd(rrdb_shapes(NEW, 12, 3, 8, 1, 4, 2), seed=2)})
    x = _input(21, 17, seed=2)
    whole = Upscaler(model, device="cpu", tile=0).upscale_tensor(x)
    tiled = Upscaler(model, device="cpu", tile=10, overlap=8).upscale_tensor(x)
    assert tiled.shape == whole.shape == (1, 3, 42, 34)
    assert torch.isfinite(tiled).all()


@pytest.fixture()
def tiny_set(tmp_path: Path) -> Path:
    folder = tmp_path / "Tiny" / "HR"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i, (h, w) in enumerate([(24, 20), (18, 22)]):
        smooth = np.cumsum(np.cumsum(rng.normal(0, 1, (h, w, 3)), 0), 1)
        a = ((smooth - smooth.min()) / np.ptp(smooth) * 255).astype(np.uint8)
        Image.fromarray(a).save(folder / f"im{i}.png")
    return folder


def test_cli_eval_and_upscale_on_a_realesrgan_style_checkpoint(tiny_set: Path, tmp_path: Path) -> None:
    weights = tmp_path / "RealESRGAN_x2plus_tiny.pth"
    torch.save({"params_ema": random_sd(rrdb_shapes(NEW, 12, 3, 8, 1, 4, 2), seed=3)}, weights)
    out = tmp_path / "r.json"
    assert main(["eval", "--weights", str(weights), "--dataset", str(tiny_set), "--json", str(out), "--tile", "0",
                 "--device", "cpu", "--no-progress"]) == 0
    data = json.loads(out.read_text())
    assert data["scale"] == 2 and len(data["images"]) == 2 and math.isfinite(data["psnr_y"])
    assert main(["upscale", str(tiny_set / "im0.png"), "-o", str(tmp_path / "up"), "--weights", str(weights),
                 "--device", "cpu", "--quiet"]) == 0
    assert Image.open(tmp_path / "up" / "im0_x2.png").size == (40, 48)
