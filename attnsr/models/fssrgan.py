"""Fs-SRGAN and FA+Fs-SRGAN: a feature extractor E shared by the generator and the discriminator.

Paper: Yan et al., "Fine-grained Attention and Feature-sharing Generative Adversarial Networks for Single
Image Super-Resolution", IEEE TMM 2021 (arXiv 1911.10773). Official code: github.com/Rainyfish/
FASRGAN-and-Fs-SRGAN @ 2d85fc0 (``model_ex``, ``RRDBNet`` used as ``RRDBNet_G``,
``Discriminator_VGG_192``, ``UNet``). Spec: ``shared/specs/fasrgan.md`` §3, §4.

Networks (SR = G(E(lr)), discriminator = D(E(image)) with the *same* E module):
* E, :class:`SharedExtractor`: conv 3→nf, then f0 + [nb_e RRDBs] (no closing conv, no activation);
  (N,3,H,W) RGB [0,1] -> (N,nf,H,W) features.
* G, the generator tail: :class:`attnsr.models.rrdbnet.RRDBNet` with in_nc = nf.
* D, the discriminator tail: :class:`VGGDiscriminator` (Fs-SRGAN, 192×192) or
  :class:`attnsr.models.fasrgan.UNetDiscriminator` with in_ch = nf (FA+Fs-SRGAN, 128×128).

Registry entries (each model takes RGB [0,1]; the official files are saved per part, E/G/D):
* ``fssrgan`` (E nb 1 + G nb 16, ×4) and ``fafssrgan`` (E nb 2 + G nb 15): :class:`FsSRGANGenerator`,
  attributes ``E`` and ``G``; keys ``E.<official E key>``, ``G.<official G key>``.
  ``from_official({"E": sd_E, "G": sd_G})`` works (the loader flattens the two files). Both entries have
  the same keys; automatic detection answers ``fssrgan`` (nb_e/nb_g inferred), ``arch="fafssrgan"`` names
  the other.
* ``fssrgan_vgg192`` and ``fafssrgan_unet``: :class:`SharedFeatureDiscriminator`, attributes ``E`` and
  ``D``; keys ``E.*``/``D.*``; output as D's (VGG: score (N,1); U-Net: (score (N,1), map (N,3,P,P))),
  raw logits. Load official files as ``from_official(join_parts(E=sd_E, D=sd_D))``.

For training, build both halves around one extractor with :func:`build_pair` (or
:func:`official_pair`): ``generator.E is discriminator.E``. Parameter groups: ``generator.parameters()``
= E + G; ``discriminator.D.parameters()`` = the D tail alone; ``discriminator.parameters()`` = E + D
(the official optimiser_D effectively held E too, spec Q10; the trainer decides).

Differences from the official code: the shipped option files cannot run (spec Q7, Q8); we build the only
consistent configuration (G in_nc = E width; U-Net in_ch = E width). The VGG D's first Linear takes
8·base_nf·(P/2^n_stages)² inputs (the reference hard-codes 512·3·3, right only for base_nf 64; Q6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from attnsr.errors import ConfigError, ImageError
from attnsr.models import fasrgan, rrdbnet
from attnsr.models.keys import count_indexed, with_bn_counters
from attnsr.models.registry import NetworkEntry, StateDict
from attnsr.ops.rrdb import LRELU_SLOPE, ShortcutBlock, conv3x3, rrdb_stack


@dataclass(frozen=True)
class FsSRGANConfig:
    """Generator E+G; defaults are the released Fs-SRGAN (E nb 1, G nb 16: 12,418,371 params)."""

    scale: int = 4
    in_nc: int = 3
    out_nc: int = 3
    nf: int = 64  # E width = G input channels = G width
    nb_e: int = 1
    nb_g: int = 16


@dataclass(frozen=True)
class FsVGGDiscriminatorConfig:
    """E + VGG-style D; defaults are Fs-SRGAN's ``discriminator_vgg_192_ex`` (E+D 21,456,905 params)."""

    scale: int = 1  # ignored (discriminator)
    in_nc: int = 3
    nf: int = 64  # E width = D input channels
    nb_e: int = 1
    base_nf: int = 64
    patch_size: int = 192  # 128 with n_stages 5 is the 2019 ``discriminator_vgg_128_ex``
    n_stages: int = 6  # stride-2 convs; the first Linear sees (patch_size / 2^n_stages)² positions
    fc_hidden: int = 100


@dataclass(frozen=True)
class FAFsUNetDiscriminatorConfig:
    """E + U-Net D on E's features; defaults are FA+Fs-SRGAN (E nb 2, U-Net in 64: 71,948,996 params)."""

    scale: int = 1  # ignored (discriminator)
    in_nc: int = 3
    nf: int = 64  # E width = U-Net input channels
    nb_e: int = 2
    d_nf: int = 64
    out_ch: int = 3
    patch_size: int = 128
    fc_hidden: int = 1024


class SharedExtractor(nn.Module):
    """Official ``model_ex``: (N,in_nc,H,W) -> (N,nf,H,W); f0 + RRDBs(f0), no closing conv (spec Q5).

    Keys ``model.0.*`` and ``model.1.sub.{i}.RDB*``, or ``model.1.sub.RDB*`` when nb = 1 (spec Q4).
    """

    def __init__(self, in_nc: int, nf: int, nb: int) -> None:
        super().__init__()
        self.model = nn.Sequential(conv3x3(in_nc, nf), ShortcutBlock(rrdb_stack(nf, nb, closing_conv=False)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


def vgg_features(in_nc: int, base_nf: int, n_stages: int) -> nn.Sequential:
    """conv3×3+LReLU, then per stage [4×4/2 conv, BN, LReLU] and [3×3 conv, BN, LReLU] (last stage ends on
    the 4×4/2 conv). Conv k sits at index 3k−1 and its BN at 3k (k ≥ 1), as the official flattening gives.
    Widths base_nf·min(2^i, 8) per stage i."""
    widths = [base_nf * min(2**i, 8) for i in range(n_stages)]
    layers: list[nn.Module] = [conv3x3(in_nc, base_nf), nn.LeakyReLU(LRELU_SLOPE)]
    for i, width in enumerate(widths):
        if i > 0:
            layers += [conv3x3(widths[i - 1], width), nn.BatchNorm2d(width), nn.LeakyReLU(LRELU_SLOPE)]
        layers += [nn.Conv2d(width, width, 4, stride=2, padding=1), nn.BatchNorm2d(width),
                   nn.LeakyReLU(LRELU_SLOPE)]
    return nn.Sequential(*layers)


class VGGDiscriminator(nn.Module):
    """Official ``Discriminator_VGG_192`` (/``_128``): (N,in_nc,P,P) -> score (N,1), a raw logit."""

    def __init__(self, in_nc: int = 64, base_nf: int = 64, patch_size: int = 192, n_stages: int = 6,
                 fc_hidden: int = 100) -> None:
        super().__init__()
        if patch_size % 2**n_stages:
            raise ConfigError(f"VGG discriminator: patch_size {patch_size} is not divisible by 2^{n_stages}")
        self.patch_size = patch_size
        side = patch_size // 2**n_stages
        self.features = vgg_features(in_nc, base_nf, n_stages)
        self.classifier = nn.Sequential(nn.Linear(base_nf * min(2 ** (n_stages - 1), 8) * side * side,
                                                  fc_hidden), nn.LeakyReLU(LRELU_SLOPE), nn.Linear(fc_hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[2:]) != (self.patch_size, self.patch_size):
            raise ImageError(f"VGG discriminator: input must be {self.patch_size}×{self.patch_size} (the "
                             f"classifier is a Linear layer), got shape {tuple(x.shape)}")
        return self.classifier(self.features(x).flatten(1))


class FsSRGANGenerator(nn.Module):
    """SR = G(E(x)): (N,3,H,W) RGB [0,1] -> (N,3,H·s,W·s), unclamped. Any H, W."""

    def __init__(self, E: SharedExtractor, G: rrdbnet.RRDBNet) -> None:
        super().__init__()
        self.E = E
        self.G = G

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.G(self.E(x))


class SharedFeatureDiscriminator(nn.Module):
    """D(E(x)) on a P×P RGB [0,1] image; returns what D returns (score, or (score, score_map))."""

    def __init__(self, E: SharedExtractor, D: nn.Module) -> None:
        super().__init__()
        self.E = E
        self.D = D

    def forward(self, x: torch.Tensor) -> Any:
        return self.D(self.E(x))


def build_generator(cfg: FsSRGANConfig) -> FsSRGANGenerator:
    return FsSRGANGenerator(SharedExtractor(cfg.in_nc, cfg.nf, cfg.nb_e),
                            rrdbnet.RRDBNet(cfg.nf, cfg.out_nc, cfg.nf, cfg.nb_g, cfg.scale))


def build_discriminator(cfg: FsVGGDiscriminatorConfig | FAFsUNetDiscriminatorConfig) -> SharedFeatureDiscriminator:
    E = SharedExtractor(cfg.in_nc, cfg.nf, cfg.nb_e)
    if isinstance(cfg, FsVGGDiscriminatorConfig):
        D: nn.Module = VGGDiscriminator(cfg.nf, cfg.base_nf, cfg.patch_size, cfg.n_stages, cfg.fc_hidden)
    else:
        D = fasrgan.UNetDiscriminator(cfg.nf, cfg.out_ch, cfg.d_nf, cfg.patch_size, cfg.fc_hidden)
    return SharedFeatureDiscriminator(E, D)


def build_pair(
    g_cfg: FsSRGANConfig, d_cfg: FsVGGDiscriminatorConfig | FAFsUNetDiscriminatorConfig
) -> tuple[FsSRGANGenerator, SharedFeatureDiscriminator]:
    """Generator and discriminator sharing one extractor module (``disc.E is gen.E``) for training."""
    mismatch = [f"{k}: G {getattr(g_cfg, k)} vs D {getattr(d_cfg, k)}" for k in ("in_nc", "nf", "nb_e")
                if getattr(g_cfg, k) != getattr(d_cfg, k)]
    if mismatch:
        raise ConfigError("fssrgan.build_pair: the two configs describe different extractors ("
                          + "; ".join(mismatch) + ")")
    generator = build_generator(g_cfg)
    disc = build_discriminator(d_cfg)
    disc.E = generator.E
    return generator, disc


def official_pair(variant: str = "fssrgan") -> tuple[FsSRGANGenerator, SharedFeatureDiscriminator]:
    """The official training pair: ``"fssrgan"`` (E1/G16 + VGG-192) or ``"fafssrgan"`` (E2/G15 + U-Net)."""
    if variant == "fssrgan":
        return build_pair(FsSRGANConfig(), FsVGGDiscriminatorConfig())
    if variant == "fafssrgan":
        return build_pair(FsSRGANConfig(nb_e=2, nb_g=15), FAFsUNetDiscriminatorConfig())
    raise ConfigError(f"fssrgan.official_pair: unknown variant {variant!r}; use 'fssrgan' or 'fafssrgan'")


def join_parts(**parts: StateDict) -> dict[str, torch.Tensor]:
    """Flatten per-network official files into one state dict: ``join_parts(E=sd_E, D=sd_D)`` gives keys
    ``E.<k>`` and ``D.<k>`` (what these entries' detect/convert read). Inputs are not mutated."""
    return {f"{name}.{k}": v for name, sd in parts.items() for k, v in sd.items()}


def split_parts(sd: StateDict, names: tuple[str, ...]) -> dict[str, dict[str, torch.Tensor]] | None:
    """Inverse of :func:`join_parts` for exactly the given part names; None if a key has another prefix
    or a part is empty."""
    parts: dict[str, dict[str, torch.Tensor]] = {n: {} for n in names}
    for key, value in sd.items():
        head, _, rest = key.partition(".")
        if head not in parts:
            return None
        parts[head][rest] = value
    return parts if all(parts.values()) else None


def detect_extractor(sd: StateDict) -> dict[str, int] | None:
    """``model_ex`` keys -> {in_nc, nf, nb_e}; None unless the keys look like an extractor."""
    if "model.0.weight" not in sd:
        return None
    if "model.1.sub.RDB1.conv1.0.weight" in sd:  # nb = 1: un-indexed keys (spec Q4)
        nb = 1
    else:
        nb = count_indexed(sd, "model.1.sub.{}.RDB1.conv1.0.weight")
        if nb == 0 or f"model.1.sub.{nb}.weight" in sd:  # a closing conv means RRDBNet, not model_ex
            return None
    first = sd["model.0.weight"]
    return {"in_nc": int(first.shape[1]), "nf": int(first.shape[0]), "nb_e": nb}


def detect_generator(sd: StateDict) -> dict[str, Any] | None:
    """``E.*`` + ``G.*`` keys -> FsSRGANConfig kwargs (nb_e, nb_g, scale, nf, in/out channels)."""
    parts = split_parts(sd, ("E", "G"))
    if parts is None:
        return None
    e, g = detect_extractor(parts["E"]), rrdbnet.detect(parts["G"])
    if e is None or g is None:
        return None
    return {**e, "nb_g": g["nb"], "out_nc": g["out_nc"], "scale": g["scale"]}


def detect_vgg(sd: StateDict) -> dict[str, Any] | None:
    """``E.*`` + ``D.features/classifier.*`` keys -> FsVGGDiscriminatorConfig kwargs."""
    parts = split_parts(sd, ("E", "D"))
    if parts is None or "features.0.weight" not in parts["D"] or "classifier.0.weight" not in parts["D"]:
        return None
    e = detect_extractor(parts["E"])
    if e is None:
        return None
    d = parts["D"]
    n_convs = sum(1 for k in d if k.startswith("features.") and k.endswith(".weight") and d[k].dim() == 4)
    n_stages = n_convs // 2
    base_nf = int(d["features.0.weight"].shape[0])
    width = base_nf * min(2 ** (n_stages - 1), 8)
    side = round((int(d["classifier.0.weight"].shape[1]) / width) ** 0.5)
    return {**e, "base_nf": base_nf, "n_stages": n_stages, "patch_size": side * 2**n_stages,
            "fc_hidden": int(d["classifier.0.weight"].shape[0])}


def detect_unet(sd: StateDict) -> dict[str, Any] | None:
    """``E.*`` + ``D.<U-Net keys>`` -> FAFsUNetDiscriminatorConfig kwargs."""
    parts = split_parts(sd, ("E", "D"))
    if parts is None:
        return None
    e, d = detect_extractor(parts["E"]), fasrgan.detect_unet(parts["D"])
    if e is None or d is None:
        return None
    d.pop("in_ch")  # must equal E's width; a mismatch is reported as mis-shaped keys at load
    return {**e, **{("d_nf" if k == "nf" else k): v for k, v in d.items()}}


# official_params: trainable parameters of the whole entry model, sum(p.numel() for p in
# model.parameters()) (BN running stats excluded): E+G for generators, E+D for discriminators (spec §8).
ENTRIES: tuple[NetworkEntry, ...] = (
    NetworkEntry(
        name="fssrgan", config_cls=FsSRGANConfig, build=build_generator, scales=(4,),
        official_params={4: 12_418_371}, detect=detect_generator, convert=with_bn_counters, role="generator",
        summary="Fs-SRGAN generator G(E(x)): shared extractor (1 RRDB) + RRDBNet tail (16 RRDBs), ×4",
    ),
    NetworkEntry(
        name="fafssrgan", config_cls=FsSRGANConfig, build=build_generator, scales=(4,),
        defaults={"nb_e": 2, "nb_g": 15}, official_params={4: 12_418_371},
        # Same keys as Fs-SRGAN: auto-detection answers ``fssrgan``; reached with arch="fafssrgan".
        detect=detect_generator, convert=with_bn_counters, role="generator",
        summary="FA+Fs-SRGAN generator G(E(x)): shared extractor (2 RRDBs) + RRDBNet tail (15 RRDBs), ×4",
    ),
    NetworkEntry(
        name="fssrgan_vgg192", config_cls=FsVGGDiscriminatorConfig, build=build_discriminator, scales=(1,),
        official_params={1: 21_456_905}, detect=detect_vgg, convert=with_bn_counters, role="discriminator",
        summary="Fs-SRGAN discriminator D(E(x)): VGG-style, 192×192 RGB -> score",
    ),
    NetworkEntry(
        name="fafssrgan_unet", config_cls=FAFsUNetDiscriminatorConfig, build=build_discriminator,
        scales=(1,), official_params={1: 71_948_996}, detect=detect_unet, convert=with_bn_counters,
        role="discriminator",
        summary="FA+Fs-SRGAN discriminator D(E(x)): U-Net on 64-ch features, 128×128 -> (score, map)",
    ),
)
