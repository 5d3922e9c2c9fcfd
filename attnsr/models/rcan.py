"""RCAN: "Image Super-Resolution Using Very Deep Residual Channel Attention Networks", Y. Zhang, K. Li, K. Li,
B. Zhong, Y. Fu, ECCV 2018. Official code: ``yulunzhang/RCAN`` (``RCAN_TrainCode/code/model/rcan.py``).

Residual-in-residual trunk: 10 residual groups (RG) of 20 residual channel-attention blocks (RCAB), each
block conv-ReLU-conv followed by channel attention; long and short skips; pixel-shuffle tail.
Attribute names are the official ones, so official checkpoints (``RCAN_BIX2.pt`` ...) load without renaming:
``sub_mean``, ``head.0``, ``body.{g}.body.{b}.body.{0,2}``, ``body.{g}.body.{b}.body.3.conv_du.{0,2}``,
``body.{g}.body.{n_resblocks}``, ``body.{n_resgroups}``, ``tail.0.{0,2}``, ``tail.1``, ``add_mean``.

Layouts read: the official one above (ours), and BasicSR's (``basicsr/archs/rcan_arch.py``, usually inside
``params_ema``): ``conv_first``, ``body.G.residual_group.B.rcab.{0,2}``, ``...rcab.3.attention.{1,3}``,
``body.G.conv``, ``conv_after_body``, ``upsample.{0,2}``, ``conv_last``. BasicSR keeps its mean as a plain
tensor, ``x = (x - mean)·img_range`` ... ``x / img_range + mean``, which is our MeanShift pair with
``rgb_range = img_range``: the converter writes ``sub_mean``/``add_mean`` from BasicSR's defaults (DIV2K
mean, img_range 255; neither is stored in the file, pass ``rgb_range=`` for another img_range). BasicSR's
``res_scale`` (default 1) is not stored either; only 1 is supported, as in the official RCAN.

Differences from the official code: the wrapper takes and returns RGB in [0, 1] (scaled by ``rgb_range``
inside), and MeanShift is frozen (the official module set ``self.requires_grad = False``, which freezes
nothing); parameter counts here are trainable-only (spec ``dfsa.md`` §4.3 first row).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from attnsr.errors import ConfigError
from attnsr.models.keys import conv_width, fits_grammar, infer_rgb_range, infer_scale, key_indices
from attnsr.models.registry import NetworkEntry, StateDict
from attnsr.ops.common import DIV2K_MEAN, CALayer, MeanShift, Upsampler, default_conv


@dataclass(frozen=True)
class RCANConfig:
    """Official RCAN defaults (RCAN scripts: G10R20, 64 features, reduction 16, rgb_range 255)."""

    scale: int = 2
    n_resgroups: int = 10
    n_resblocks: int = 20
    n_feats: int = 64
    reduction: int = 16
    rgb_range: float = 255.0

    def __post_init__(self) -> None:
        if self.scale not in (2, 3, 4, 8):
            raise ConfigError(f"rcan: scale must be 2, 3, 4 or 8, got {self.scale}")
        if min(self.n_resgroups, self.n_resblocks) < 1 or self.n_feats < 1:
            raise ConfigError(f"rcan: n_resgroups/n_resblocks/n_feats must be >= 1, got {self}")
        if self.n_feats % self.reduction != 0:
            raise ConfigError(f"rcan: reduction {self.reduction} must divide n_feats {self.n_feats}")


class RCAB(nn.Module):
    """Residual channel-attention block: x + CA(conv(ReLU(conv(x)))); B×C×H×W -> same."""

    def __init__(self, n_feats: int, reduction: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            default_conv(n_feats, n_feats, 3),
            nn.ReLU(inplace=True),
            default_conv(n_feats, n_feats, 3),
            CALayer(n_feats, reduction),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Official quirk: res_scale is accepted but unused (the .mul(res_scale) line is commented out).
        return self.body(x) + x


class ResidualGroup(nn.Module):
    """n_resblocks RCABs and a conv, with a short skip; B×C×H×W -> same."""

    def __init__(self, n_feats: int, reduction: int, n_resblocks: int) -> None:
        super().__init__()
        blocks: list[nn.Module] = [RCAB(n_feats, reduction) for _ in range(n_resblocks)]
        blocks.append(default_conv(n_feats, n_feats, 3))
        self.body = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


class RCAN(nn.Module):
    """RCAN; input B×3×H×W RGB in [0, 1] (any H, W), output B×3×(sH)×(sW) RGB ~[0, 1] (not clamped)."""

    def __init__(self, cfg: RCANConfig) -> None:
        super().__init__()
        f = cfg.n_feats
        self.rgb_range = cfg.rgb_range
        self.sub_mean = MeanShift(cfg.rgb_range, DIV2K_MEAN, sign=-1)
        self.head = nn.Sequential(default_conv(3, f, 3))
        groups: list[nn.Module] = [ResidualGroup(f, cfg.reduction, cfg.n_resblocks) for _ in range(cfg.n_resgroups)]
        groups.append(default_conv(f, f, 3))
        self.body = nn.Sequential(*groups)
        self.tail = nn.Sequential(Upsampler(cfg.scale, f), default_conv(f, 3, 3))
        self.add_mean = MeanShift(cfg.rgb_range, DIV2K_MEAN, sign=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.sub_mean(x * self.rgb_range))
        x = self.body(x) + x
        return self.add_mean(self.tail(x)) / self.rgb_range


def build(cfg: RCANConfig) -> RCAN:
    return RCAN(cfg)


# ----------------------------------------------------------------------------------------------- detection

# Every key an official RCAN state dict may hold (MeanShift, head, RCAB convs and CA, group/trunk convs, tail).
_RCAN_KEY = re.compile(
    r"^(?:(?:sub_mean|add_mean|head\.0|tail\.1|body\.\d+|body\.\d+\.body\.\d+|body\.\d+\.body\.\d+\.body\.[02]"
    r"|body\.\d+\.body\.\d+\.body\.3\.conv_du\.[02]|tail\.0\.\d+)\.(?:weight|bias))$"
)
_SIGNATURE = ("head.0.weight", "tail.1.weight", "body.0.body.0.body.3.conv_du.0.weight")


def detect(sd: StateDict) -> dict[str, Any] | None:
    """Config of an official or BasicSR RCAN state dict, or None when its keys are not RCAN's.

    Claims a dict only if it has RCAN's signature keys and every key fits RCAN's key grammar (so HSPAN,
    DFSA and EDSR dicts are left alone); a broken RCAN dict is still claimed, and loading then lists its
    missing/unexpected/mis-shaped keys. Inferred: groups, blocks, features, reduction, scale, rgb_range.
    """
    if is_basicsr(sd):
        return _detect_basicsr(sd)
    if not fits_grammar(sd, _RCAN_KEY, _SIGNATURE):
        return None
    head, ca = conv_width(sd, "head.0.weight"), conv_width(sd, "body.0.body.0.body.3.conv_du.0.weight")
    if head is None or ca is None or head[1] != 3:
        return None
    n_feats = head[0]
    if ca[1] != n_feats or ca[0] == 0:
        return None  # CA fed by something other than one value per channel: not RCAN
    n_resgroups = len(key_indices(sd, r"^body\.(\d+)\.body\.0\.body\.0\.weight$"))
    n_resblocks = len(key_indices(sd, r"^body\.0\.body\.(\d+)\.body\.0\.weight$"))
    scale = infer_scale(sd, n_feats)
    return {
        "scale": scale if scale is not None else 2,
        "n_resgroups": n_resgroups,
        "n_resblocks": n_resblocks,
        "n_feats": n_feats,
        "reduction": max(1, n_feats // ca[0]),
        "rgb_range": infer_rgb_range(sd),
    }


# ------------------------------------------------------------------------------------------ BasicSR layout

_BASICSR_KEY = re.compile(
    r"^(?:conv_first|conv_after_body|conv_last|upsample\.\d+|body\.\d+\.conv"
    r"|body\.\d+\.residual_group\.\d+\.rcab\.(?:[02]|3\.attention\.[13]))\.(?:weight|bias)$"
)
_BASICSR_SIGNATURE = ("conv_first.weight", "conv_after_body.weight",
                      "body.0.residual_group.0.rcab.3.attention.1.weight")


def is_basicsr(sd: StateDict) -> bool:
    """Whether ``sd`` has BasicSR RCAN's signature keys and nothing outside its key grammar."""
    return fits_grammar(sd, _BASICSR_KEY, _BASICSR_SIGNATURE)


def _detect_basicsr(sd: StateDict) -> dict[str, Any] | None:
    """BasicSR keys -> config. rgb_range is BasicSR's default img_range (255): the file does not store it.
    A missing upsampler leaves the scale unknown (None): the caller must give it."""
    first = conv_width(sd, "conv_first.weight")
    ca = conv_width(sd, "body.0.residual_group.0.rcab.3.attention.1.weight")
    if first is None or ca is None or first[1] != 3 or ca[1] != first[0] or not ca[0]:
        return None
    n_feats = first[0]
    return {
        "scale": infer_scale(sd, n_feats, prefix="upsample."),
        "n_resgroups": len(key_indices(sd, r"^body\.(\d+)\.residual_group\.0\.rcab\.0\.weight$")),
        "n_resblocks": len(key_indices(sd, r"^body\.0\.residual_group\.(\d+)\.rcab\.0\.weight$")),
        "n_feats": n_feats,
        "reduction": max(1, n_feats // ca[0]),
        "rgb_range": 255.0,
    }


def basicsr_name(ours: str, cfg: RCANConfig) -> str | None:
    """BasicSR's key for one of our keys (None for the MeanShift pair, which BasicSR does not store)."""
    rules = (
        (r"^head\.0\.", "conv_first."),
        (r"^body\.(\d+)\.body\.(\d+)\.body\.([02])\.", r"body.\1.residual_group.\2.rcab.\3."),
        (r"^body\.(\d+)\.body\.(\d+)\.body\.3\.conv_du\.0\.", r"body.\1.residual_group.\2.rcab.3.attention.1."),
        (r"^body\.(\d+)\.body\.(\d+)\.body\.3\.conv_du\.2\.", r"body.\1.residual_group.\2.rcab.3.attention.3."),
        (rf"^body\.(\d+)\.body\.{cfg.n_resblocks}\.", r"body.\1.conv."),
        (rf"^body\.{cfg.n_resgroups}\.", "conv_after_body."),
        (r"^tail\.0\.(\d+)\.", r"upsample.\1."),
        (r"^tail\.1\.", "conv_last."),
    )
    for pattern, repl in rules:
        if re.match(pattern, ours):
            return re.sub(pattern, repl, ours)
    return None


def convert(sd: StateDict, cfg: RCANConfig) -> dict[str, torch.Tensor]:
    """Our keys as a new dict (the input is not modified). Official RCAN keys are ours already.

    BasicSR keys are checked under their own names against the network ``cfg`` describes (every missing,
    unexpected or mis-shaped key in one error), renamed, and completed with the MeanShift pair that
    reproduces BasicSR's ``(x - mean)·img_range`` and ``x / img_range + mean``.
    """
    if not is_basicsr(sd):
        return dict(sd)
    from attnsr.models.checkpoint import check_keys

    with torch.device("meta"):
        shapes = build(cfg).state_dict()
    mapping = {name: ours for ours in shapes if (name := basicsr_name(ours, cfg)) is not None}
    check_keys({name: shapes[ours] for name, ours in mapping.items()}, sd, where="BasicSR RCAN layout")
    out = {mapping[k]: v for k, v in sd.items()}
    for key, sign in (("sub_mean", -1), ("add_mean", 1)):
        shift = MeanShift(cfg.rgb_range, DIV2K_MEAN, sign=sign)
        assert shift.bias is not None
        out[f"{key}.weight"], out[f"{key}.bias"] = shift.weight.detach(), shift.bias.detach()
    return out


# Trainable parameters (frozen MeanShift excluded; +24 gives the usual 15.44M/15.63M/15.59M), spec §4.3.
RCAN_PARAMS = {2: 15_444_643, 3: 15_629_283, 4: 15_592_355}

ENTRIES: tuple[NetworkEntry, ...] = (
    NetworkEntry(
        name="rcan",
        config_cls=RCANConfig,
        build=build,
        scales=(2, 3, 4),
        official_params=RCAN_PARAMS,
        detect=detect,
        convert=convert,
        summary="RCAN (ECCV 2018): residual-in-residual trunk with channel attention, 10x20 blocks, 64 feats",
    ),
)
