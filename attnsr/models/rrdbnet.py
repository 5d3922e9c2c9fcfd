"""RRDBNet, the ESRGAN generator; our keys are the "old-arch" layout (``model.0`` ... ``model.10``).

Paper: Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial Networks", ECCVW 2018.
Official code: github.com/xinntao/ESRGAN (old BasicSR ``RRDBNet``); FASRGAN (github.com/Rainyfish/
FASRGAN-and-Fs-SRGAN, commit 2d85fc0) uses the same class unchanged as its generator and ships
``FASRGAN_G.pth`` in this layout (spec ``fasrgan.md`` §1.3, §2.1).

Layouts read (all one network; :func:`convert` renames the other two to ours):
* old-arch (ours, FASRGAN, old BasicSR): ``model.0``, ``model.1.sub.N.RDBK.convJ.0``, ``model.1.sub.{nb}``,
  ``model.3``/``model.6`` (upsampling convs), HR conv, last conv.
* BasicSR new (Real-ESRGAN ``RealESRGAN_x4plus``/``x2plus``, BasicSR ``ESRGAN_x4``, most community
  models; ``basicsr/archs/rrdbnet_arch.py``): ``conv_first``, ``body.N.rdbK.convJ``, ``conv_body``,
  ``conv_up1``, ``conv_up2``, ``conv_hr``, ``conv_last``. ×2 and ×1 pixel-unshuffle the input by 2 / 4
  first (``conv_first`` takes 4·/16· the channels) and keep the two ×2 stages.
* 2019 ESRGAN repo (``RRDB_ESRGAN_x4.pth``, ``RRDBNet_arch.py``): ``conv_first``, ``RRDB_trunk.N.RDBK.convJ``,
  ``trunk_conv``, ``upconv1``, ``upconv2``, ``HRconv``, ``conv_last``.

Structure (×4): ``model.0`` conv in_nc→nf; ``model.1`` = f0 + [nb RRDBs, conv] (keys
``model.1.sub.{i}.RDB{1,2,3}.conv{1..5}.0.*`` and ``model.1.sub.{nb}.*``); per ×2 stage nearest-neighbour
upsampling + conv + LeakyReLU(0.2) (``model.3``, ``model.6``); ``model.8`` conv + LReLU; ``model.10`` conv
nf→out_nc. No mean shift, no clamp, no global residual: RGB [0,1] in, raw conv output out (≈[0,1]).
With ``unshuffle`` u > 1 the input is first pixel-unshuffled by u and the trunk upsamples by scale·u.

Scales: 4 is official. 2 (one nearest ×2 stage, last conv ``model.7``), 3 (one nearest ×3 stage, the
reference's ``upscale == 3`` branch, same keys as ×2) and 8 (three stages) also build. An old-arch ×2 and
×3 checkpoint cannot be told apart by their keys, so detection reports both and the caller must say which
(``scale=``, ``--scale``). The new and 2019 layouts always upsample by 2 per stage: their scale is visible.

Differences from the official code: the old-arch reference ignores ``gc`` (growth hard-coded to 32, spec
Q3); here ``gc`` is a field because the new and 2019 layouts honour it (old-arch files always show 32).
Upsampling is always nearest+conv (``upsample_mode='upconv'``, the only mode these checkpoints use). With
``unshuffle`` > 1, an input whose sides are not multiples of u is reflect-padded on the bottom/right and
the output cropped (as Real-ESRGAN's inference helper does; BasicSR's model itself refuses such sizes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from attnsr.errors import ConfigError
from attnsr.models.keys import count_indexed
from attnsr.models.registry import NetworkEntry, StateDict
from attnsr.ops.rrdb import GROWTH, LRELU_SLOPE, ShortcutBlock, conv3x3, rrdb_stack

SUPPORTED_SCALES = (2, 3, 4, 8)
#: pixel-unshuffle factors BasicSR's RRDBNet uses (×4: none, ×2: 2, ×1: 4), by conv_first in/out channels
UNSHUFFLE_BY_RATIO = {1: 1, 4: 2, 16: 4}


@dataclass(frozen=True)
class RRDBNetConfig:
    """Constructor arguments; defaults are ESRGAN/FASRGAN's official ×4 generator (16,697,987 params)."""

    scale: int = 4
    in_nc: int = 3  # 3 for RGB; Fs-SRGAN's generator tail takes the extractor's nf channels instead
    out_nc: int = 3
    nf: int = 64
    nb: int = 23
    gc: int = GROWTH  # dense-block growth (BasicSR num_grow_ch); old-arch files always have 32
    unshuffle: int = 1  # input pixel-unshuffle factor: 1, or BasicSR's 2 (its ×2) / 4 (its ×1)

    def __post_init__(self) -> None:
        if self.unshuffle not in UNSHUFFLE_BY_RATIO.values():
            raise ConfigError(f"rrdbnet: unshuffle must be 1, 2 or 4, got {self.unshuffle}")
        if min(self.nf, self.nb, self.gc, self.in_nc, self.out_nc, self.scale) < 1:
            raise ConfigError(f"rrdbnet: every size must be >= 1, got {self}")


def upsample_stages(scale: int) -> list[int]:
    """Interpolation factor of each nearest+conv stage: ×3 is one ×3 stage, 2^k is k ×2 stages."""
    if scale == 3:
        return [3]
    if scale in SUPPORTED_SCALES:
        return [2] * (scale.bit_length() - 1)
    raise ConfigError(f"rrdbnet: scale {scale} not supported; choose one of {SUPPORTED_SCALES}")


class RRDBNet(nn.Module):
    """Old-arch RRDBNet. Input (N,in_nc,H,W), output (N,out_nc,H·scale,W·scale); any H, W."""

    def __init__(self, in_nc: int, out_nc: int, nf: int, nb: int, scale: int, gc: int = GROWTH,
                 unshuffle: int = 1) -> None:
        super().__init__()
        self.scale, self.unshuffle = scale, unshuffle
        trunk = rrdb_stack(nf, nb, closing_conv=True, gc=gc)
        layers: list[nn.Module] = [conv3x3(in_nc * unshuffle**2, nf), ShortcutBlock(trunk)]
        for factor in upsample_stages(scale * unshuffle):
            layers += [nn.Upsample(scale_factor=factor, mode="nearest"), conv3x3(nf, nf),
                       nn.LeakyReLU(LRELU_SLOPE)]
        layers += [conv3x3(nf, nf), nn.LeakyReLU(LRELU_SLOPE), conv3x3(nf, out_nc)]
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = self.unshuffle
        if u == 1:
            return self.model(x)
        h, w = x.shape[-2:]
        pad_h, pad_w = -h % u, -w % u
        if pad_h or pad_w:
            mode = "reflect" if pad_h < h and pad_w < w else "replicate"
            x = F.pad(x, (0, pad_w, 0, pad_h), mode=mode)
        out = self.model(F.pixel_unshuffle(x, u))
        return out[..., : h * self.scale, : w * self.scale]


def build(cfg: RRDBNetConfig) -> RRDBNet:
    return RRDBNet(cfg.in_nc, cfg.out_nc, cfg.nf, cfg.nb, cfg.scale, cfg.gc, cfg.unshuffle)


def _detect_old_arch(sd: StateDict) -> dict[str, Any] | None:
    """Old-arch keys -> config. Requires the trunk-closing conv ``model.1.sub.{nb}`` and the HR convs, so
    Fs-SRGAN's extractor (``model.1.sub.{i}.RDB*`` keys but neither) is not claimed. The index of the last
    conv is 3·stages + 4 (×4 -> ``model.10``; ×2 or ×3 -> ``model.7``, reported as the candidates (2, 3))."""
    if not sd or not all(k.startswith("model.") for k in sd) or "model.0.weight" not in sd:
        return None
    nb = count_indexed(sd, "model.1.sub.{}.RDB1.conv1.0.weight")
    if nb == 0 or f"model.1.sub.{nb}.weight" not in sd:
        return None
    conv_ids = sorted(int(k.split(".")[1]) for k in sd if k.count(".") == 2 and k.endswith(".weight"))
    last = conv_ids[-1]
    stages = (last - 4) // 3
    if last < 7 or (last - 4) % 3 or 2**stages not in SUPPORTED_SCALES:
        return None
    first, final = sd["model.0.weight"], sd[f"model.{last}.weight"]
    # One stage is nearest ×2 or ×3 with the same weights: the keys cannot tell, the caller must.
    scale: int | tuple[int, ...] = (2, 3) if stages == 1 else 2**stages
    return {"in_nc": int(first.shape[1]), "out_nc": int(final.shape[0]), "nf": int(first.shape[0]),
            "nb": nb, "gc": int(sd["model.1.sub.0.RDB1.conv1.0.weight"].shape[0]), "scale": scale}


# ------------------------------------------------------------------ the BasicSR-new and 2019 ESRGAN layouts


@dataclass(frozen=True)
class Layout:
    """Official module names of one RRDBNet key layout (trunk ``{trunk}.N.{rdb}K.convJ``)."""

    name: str
    first: str
    trunk: str
    rdb: str
    trunk_conv: str
    up: str  # upsampling convs are ``{up}1``, ``{up}2``, ...
    hr: str
    last: str

    def owns(self, key: str) -> bool:
        """Whether ``key`` has one of this layout's module prefixes (a broken file is still claimed)."""
        head = key.split(".", 1)[0]
        return head in (self.first, self.trunk, self.trunk_conv, self.hr, self.last) or (
            re.fullmatch(rf"{re.escape(self.up)}\d+", head) is not None)

    def probe(self) -> str:
        return f"{self.trunk}.0.{self.rdb}1.conv1.weight"


NEW_LAYOUT = Layout("BasicSR new", "conv_first", "body", "rdb", "conv_body", "conv_up", "conv_hr", "conv_last")
ESRGAN_2019 = Layout("ESRGAN 2019", "conv_first", "RRDB_trunk", "RDB", "trunk_conv", "upconv", "HRconv",
                     "conv_last")
LAYOUTS = (NEW_LAYOUT, ESRGAN_2019)


def layout_of(sd: StateDict) -> Layout | None:
    """The named layout ``sd`` is in (by its first conv and first dense conv), None for old-arch/others."""
    for layout in LAYOUTS:
        if f"{layout.first}.weight" in sd and layout.probe() in sd and all(layout.owns(k) for k in sd):
            return layout
    return None


def _detect_named_layout(sd: StateDict, layout: Layout) -> dict[str, Any] | None:
    """New/2019 keys -> config. Every stage upsamples by 2, so scale = 2^stages / unshuffle, where the
    unshuffle factor follows from conv_first's input channels over conv_last's outputs (1, 4 or 16:
    RGB in and RGB out, as BasicSR builds it)."""
    first, last = sd.get(f"{layout.first}.weight"), sd.get(f"{layout.last}.weight")
    if first is None or last is None or first.dim() != 4 or last.dim() != 4:
        return None
    stages = 0
    while f"{layout.up}{stages + 1}.weight" in sd:
        stages += 1
    in_ch, out_nc = int(first.shape[1]), int(last.shape[0])
    unshuffle = UNSHUFFLE_BY_RATIO.get(in_ch // out_nc) if in_ch % out_nc == 0 else None
    if stages == 0 or unshuffle is None or (2**stages) % unshuffle or 2**stages not in SUPPORTED_SCALES:
        return None
    nb = count_indexed(sd, f"{layout.trunk}.{{}}.{layout.rdb}1.conv1.weight")
    return {"in_nc": in_ch // unshuffle**2, "out_nc": out_nc, "nf": int(first.shape[0]), "nb": nb,
            "gc": int(sd[layout.probe()].shape[0]), "unshuffle": unshuffle, "scale": 2**stages // unshuffle}


def detect(sd: StateDict) -> dict[str, Any] | None:
    """RRDBNet keys in any of the three layouts -> config; None for anything else.

    ``scale`` is an int when the keys show it, or the tuple of candidates (2, 3) for an old-arch file with
    one upsampling stage.
    """
    layout = layout_of(sd)
    return _detect_old_arch(sd) if layout is None else _detect_named_layout(sd, layout)


def key_map(layout: Layout, nb: int, stages: int) -> dict[str, str]:
    """Official key of ``layout`` -> our (old-arch) key, for every tensor of the network."""
    pairs = [(layout.first, "model.0")]
    for n in range(nb):
        pairs += [(f"{layout.trunk}.{n}.{layout.rdb}{k}.conv{j}", f"model.1.sub.{n}.RDB{k}.conv{j}.0")
                  for k in (1, 2, 3) for j in range(1, 6)]
    pairs.append((layout.trunk_conv, f"model.1.sub.{nb}"))
    pairs += [(f"{layout.up}{s}", f"model.{3 * s}") for s in range(1, stages + 1)]
    pairs += [(layout.hr, f"model.{3 * stages + 2}"), (layout.last, f"model.{3 * stages + 4}")]
    return {f"{a}.{t}": f"{b}.{t}" for a, b in pairs for t in ("weight", "bias")}


def convert(sd: StateDict, cfg: RRDBNetConfig) -> dict[str, torch.Tensor]:
    """Our keys from any layout, as a new dict (the input is never mutated).

    Old-arch keys are ours already (checked at load). New/2019 keys are checked here against the network
    ``cfg`` describes, under their official names, and every missing/unexpected/mis-shaped key is reported
    in one error.
    """
    from attnsr.models.checkpoint import check_keys

    layout = layout_of(sd)
    if layout is None:
        return dict(sd)
    mapping = key_map(layout, cfg.nb, len(upsample_stages(cfg.scale * cfg.unshuffle)))
    with torch.device("meta"):
        shapes = build(cfg).state_dict()
    check_keys({k: shapes[ours] for k, ours in mapping.items()}, sd, where=f"{layout.name} layout")
    return {mapping[k]: v for k, v in sd.items()}


# official_params: trainable parameters, sum(p.numel() for p in model.parameters()) (spec §8, also
# param_counts.json). Only ×4 is published; ×2/×3 are derived (one 64→64 upsampling conv fewer:
# 16,697,987 − 36,928) and ×8 has one more. BasicSR's ×2 (RealESRGAN_x2plus, unshuffle 2) has
# 16,703,171: conv_first takes 12 channels (+5,184).
ENTRIES: tuple[NetworkEntry, ...] = (
    NetworkEntry(
        name="rrdbnet",
        config_cls=RRDBNetConfig,
        build=build,
        scales=(2, 3, 4),
        official_params={2: 16_661_059, 3: 16_661_059, 4: 16_697_987},
        detect=detect,
        convert=convert,
        role="generator",
        summary="ESRGAN/Real-ESRGAN RRDBNet (old-arch, BasicSR-new and 2019 keys), 23 RRDBs, nearest+conv",
    ),
)
