"""DeFiAN: Interpretable Detail-Fidelity Attention Network (variants S and L, scales ×2/×3/×4).

Paper: Y. Huang, J. Li, X. Gao, Y. Hu, W. Lu, "Interpretable Detail-Fidelity Attention Network for
Single Image Super-Resolution", IEEE TIP 30, 2325-2339, 2021 (arXiv 2009.13134).
Official code: github.com/YuanfeiHuang/DeFiAN (``model.py``, class ``Generator``; spec written from
snapshot fb64caf). Spec: ``shared/specs/defian.md``.

Structure: conv -> N detail-fidelity attention modules (DeFiAM) -> conv + global skip -> pixel-shuffle
upsampler -> conv. Each DeFiAM runs M RCAN-style blocks (the "FEM"), filters their output with three
multi-scale Hessian filters (MSHF, dilations 1/2/3), squeezes the three channel-averaged eigenvalue maps
through a dilated encoder-decoder (DiEnDec) into one map, re-styles it per channel with the statistics
of the module input (DAC), and uses its sigmoid to gate the block output.

What differs from the official code:
- Range: our model takes and returns RGB in [0, 1]. The official network works on ImageNet-normalised
  images; :class:`DeFiAN` normalises its input and maps the output back with the official scripts'
  *rounded* inverse constants (so official PNGs are reproduced). :meth:`DeFiAN.forward_official` is the
  raw official path (normalised in, normalised out).
- MSHF trainability is a config flag. Default ``freeze_mshf=False`` = the Sept-2020 code contemporary
  with the released checkpoints, whose parameter counts are the paper's; ``True`` = HEAD (frozen).
- The MSHF square root has a NaN-free gradient where its argument is 0 (same forward values).
- :meth:`DeFiAN.forward_with_maps` returns the Hessian and attention maps for interpretation.
State-dict keys are exactly the official ones (no prefix), so the converter only checks them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from attnsr.errors import ConfigError, ImageError
from attnsr.models.checkpoint import check_keys
from attnsr.models.keys import key_indices
from attnsr.models.registry import NetworkEntry, StateDict

#: ImageNet statistics of the official input normalisation (torchvision ``Normalize``).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)
# Official quirk: the output is un-normalised with a *rounded* inverse (y - m') / s', not y*std + mean.
OFFICIAL_OUT_MEAN: tuple[float, float, float] = (-2.118, -2.036, -1.804)
OFFICIAL_OUT_STD: tuple[float, float, float] = (4.367, 4.464, 4.444)

#: Epsilon added to the (unbiased) variance inside DAC, before the square root.
DAC_EPS = 1e-5


@dataclass(frozen=True)
class DeFiANConfig:
    """Constructor arguments; defaults are DeFiAN_S (``option.py``), DeFiAN_L is 64/20/10."""

    scale: int = 2  # 2, 3 or 4 (official checkpoints per scale)
    n_channels: int = 32  # C, feature width
    n_blocks: int = 10  # M, RCAB blocks per DeFiAM
    n_modules: int = 5  # N, DeFiAM count; N == 1 drops tail and global skip as the official code does
    reduction: int = 16  # channel reduction of the RCAB channel attention and of DAC (C // 16)
    attention: bool = True  # False: plain RCAN-like baseline (modules output body_block(x) + x)
    freeze_mshf: bool = False  # True reproduces HEAD's requires_grad=False on the Hessian filters


# --------------------------------------------------------------------------------------------- blocks


class RCABBlock(nn.Module):
    """RCAN residual channel-attention block on N×C×H×W features (official ``rcab_block``).

    Keys ``block.0/.2`` (3×3 convs without bias) and ``calayer.0/.2`` (1×1 convs with bias): the names
    differ from :class:`attnsr.ops.common.CALayer` (``conv_du``), hence a block of its own.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        self.block = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1, bias=False),
        )
        squeezed = channels // reduction
        self.calayer = nn.Sequential(
            nn.Conv2d(channels, squeezed, 1), nn.ReLU(inplace=True), nn.Conv2d(squeezed, channels, 1), nn.Sigmoid()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        res = self.block(x)
        return torch.addcmul(x, res, self.calayer(res.mean(dim=(2, 3), keepdim=True)))  # x + res·a, one pass


def hessian_max_eigenvalue(fxx: torch.Tensor, fyy: torch.Tensor, fxy: torch.Tensor) -> torch.Tensor:
    """Larger eigenvalue of [[fxx, fxy], [fxy, fyy]] element-wise (same shapes in and out).

    The square root gets a zero gradient where its argument is exactly 0 (plain sqrt gives inf·0 = NaN
    there); forward values equal the official ``(...) ** 0.5``.
    """
    if not torch.is_grad_enabled():  # same values (disc >= 0), three passes fewer, no masks
        diff = fxx - fyy
        root = torch.addcmul(diff * diff, fxy, fxy, value=4.0).sqrt_()
        return (fxx + fyy).add_(root).mul_(0.5)
    disc = (fxx - fyy) ** 2 + 4 * fxy**2
    positive = disc > 0
    root = torch.where(positive, torch.where(positive, disc, torch.ones_like(disc)).sqrt(), torch.zeros_like(disc))
    return (fxx + fyy + root) / 2


class MSHF(nn.Module):
    """Multi-scale Hessian filter: depthwise 3×3 second differences at dilation ``(kernel - 1) // 2``.

    Input and output N×C×H×W (zero padding keeps the size). Keys ``grad_xx``/``grad_yy``/``grad_xy``
    (weight [C,1,3,3] and bias [C]). Stencils are only the initial values: official checkpoints may hold
    learned weights and biases (spec Q1), which are always loaded. The biases keep PyTorch's default init,
    as in the official code, so a constant image does NOT give zero response unless they are zeroed.
    """

    def __init__(self, channels: int, kernel: int = 3) -> None:
        super().__init__()
        dilation = (kernel - 1) // 2
        conv: dict[str, Any] = dict(kernel_size=3, padding=dilation, dilation=dilation, groups=channels, bias=True)
        self.grad_xx = nn.Conv2d(channels, channels, **conv)
        self.grad_yy = nn.Conv2d(channels, channels, **conv)
        self.grad_xy = nn.Conv2d(channels, channels, **conv)
        with torch.no_grad():
            for c in (self.grad_xx, self.grad_yy, self.grad_xy):
                c.weight.zero_()
            self.grad_xx.weight[:, 0, 1, :] = torch.tensor([1.0, -2.0, 1.0])  # width axis
            self.grad_yy.weight[:, 0, :, 1] = torch.tensor([1.0, -2.0, 1.0])  # height axis
            # 4x the central-difference d2/dxdy, no 1/d^2 normalisation (as the official init)
            self.grad_xy.weight[:, 0, 0::2, 0::2] = torch.tensor([[1.0, -1.0], [-1.0, 1.0]])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return hessian_max_eigenvalue(self.grad_xx(x), self.grad_yy(x), self.grad_xy(x))


class DiEnDec(nn.Module):
    """Dilated encoder-decoder: N×n×H×W (n = 3 Hessian maps) -> N×1×H×W, size-preserving.

    Encoder n→2n→4n→8n (dilations 1, 2, 4), decoder mirrors it with stride-1 ConvTranspose2d (dilations
    4, 2, 1; weight layout [in, out, 3, 3] as in the checkpoint), ReLU after every one of the six layers,
    then a 1×1 ``gate`` without activation.
    """

    def __init__(self, n: int = 3) -> None:
        super().__init__()
        widths, dils = (n, 2 * n, 4 * n, 8 * n), (1, 2, 4)
        enc: list[nn.Module] = []
        for i, d in enumerate(dils):
            enc += [nn.Conv2d(widths[i], widths[i + 1], 3, padding=d, dilation=d), nn.ReLU(inplace=True)]
        dec: list[nn.Module] = []
        for i, d in zip((3, 2, 1), reversed(dils)):
            dec += [nn.ConvTranspose2d(widths[i], widths[i - 1], 3, padding=d, dilation=d), nn.ReLU(inplace=True)]
        self.encoder = nn.Sequential(*enc)
        self.decoder = nn.Sequential(*dec)
        self.gate = nn.Conv2d(n, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gate(self.decoder(self.encoder(x)))


def _layout(x: torch.Tensor) -> torch.memory_format:
    return torch.channels_last if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last) \
        and not x.is_contiguous() else torch.contiguous_format


def channel_stats(x: torch.Tensor, eps: float = DAC_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sample, per-channel spatial mean and sqrt(unbiased variance + eps) of N×C×H×W, each N×C×1×1.

    Unbiased (H·W − 1) variance and eps inside the root, as the official DAC; needs H·W ≥ 2.
    """
    flat = x.flatten(2)
    mean = flat.mean(dim=2)[..., None, None]
    std = (flat.var(dim=2, unbiased=True) + eps).sqrt()[..., None, None]
    return mean, std


class DAC(nn.Module):
    """Distribution alignment cell: standardise ``observed`` and give it per-channel mean/std predicted
    from the statistics of ``referred`` (1×1 MLPs ``mean.0/.2`` and ``std.0/.2``, no biases).

    observed: N×C×H×W or N×1×H×W (broadcast over channels, identical statistics per channel);
    referred: N×C×H×W. Returns N×C×H×W (the caller applies the sigmoid).
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        squeezed = channels // reduction

        def mlp() -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(channels, squeezed, 1, bias=False), nn.ReLU(inplace=True),
                nn.Conv2d(squeezed, channels, 1, bias=False),
            )

        self.mean = mlp()
        self.std = mlp()

    def forward(self, observed: torch.Tensor, referred: torch.Tensor) -> torch.Tensor:
        ref_mean, ref_std = channel_stats(referred)
        obs_mean, obs_std = channel_stats(observed)  # of the 1-channel map itself: the C copies are equal
        standard = (observed - obs_mean) / obs_std
        scale, shift = self.std(ref_std), self.mean(ref_mean)
        if torch.is_grad_enabled():
            return standard * scale + shift
        # one fused pass, written in referred's layout (a broadcast result would default to NCHW)
        out = torch.empty(torch.broadcast_shapes(standard.shape, referred.shape), dtype=referred.dtype,
                          device=referred.device, memory_format=_layout(referred))
        return torch.addcmul(shift, standard, scale, out=out)


class DeFiAM(nn.Module):
    """One detail-fidelity attention module (official ``SingleModule``), N×C×H×W -> N×C×H×W.

    ``body_block`` = M RCAB blocks; with attention, the block output r is gated by
    sigmoid(DAC(DiEnDec(Hessian maps of r), x)) before the module residual: ``r * a + x``.
    Keys ``body_block.j``, ``coder.0``, ``dac.0``, ``hessian{3,5,7}.0`` (single-item Sequentials as in
    the official code).
    """

    KERNELS: tuple[int, ...] = (3, 5, 7)

    def __init__(self, channels: int, n_blocks: int, reduction: int = 16, attention: bool = True) -> None:
        super().__init__()
        self.attention = attention
        self.body_block = nn.Sequential(*(RCABBlock(channels, reduction) for _ in range(n_blocks)))
        if attention:
            self.coder = nn.Sequential(DiEnDec(len(self.KERNELS)))
            self.dac = nn.Sequential(DAC(channels, reduction))
            for k in self.KERNELS:
                self.add_module(f"hessian{k}", nn.Sequential(MSHF(channels, k)))

    def forward(self, x: torch.Tensor, maps: dict[str, torch.Tensor] | None = None) -> torch.Tensor:
        """``maps``, when given, receives ``hessian{k}`` (N×1×H×W channel means of the MSHF responses),
        ``diendec`` (N×1×H×W, the map before DAC) and ``attention`` (N×C×H×W, the sigmoid gate)."""
        r = self.body_block(x)
        if not self.attention:
            return r + x
        hessians = [getattr(self, f"hessian{k}")(r).mean(dim=1, keepdim=True) for k in self.KERNELS]
        v = self.coder(torch.cat(hessians, dim=1))
        # Official: the 1-channel map is broadcast to C channels (no learned expansion), and DAC takes its
        # reference statistics from the module input x, not from r.
        a = torch.sigmoid_(self.dac[0](v, x))
        if maps is not None:
            maps.update({f"hessian{k}": h for k, h in zip(self.KERNELS, hessians)})
            maps.update(diendec=v, attention=a)
        return torch.addcmul(x, r, a)


def upscale_block(scale: int, channels: int) -> nn.Sequential:
    """Bias-free conv + PixelShuffle: ×2 and ×3 one stage (keys ``0``), ×4 two ×2 stages (``0``, ``2``)."""
    if scale in (2, 3):
        return nn.Sequential(nn.Conv2d(channels, scale * scale * channels, 3, padding=1, bias=False),
                             nn.PixelShuffle(scale))
    if scale == 4:
        return nn.Sequential(
            nn.Conv2d(channels, 4 * channels, 3, padding=1, bias=False), nn.PixelShuffle(2),
            nn.Conv2d(channels, 4 * channels, 3, padding=1, bias=False), nn.PixelShuffle(2),
        )
    raise ConfigError(f"DeFiAN supports scales 2, 3 and 4, got scale={scale}")


# ---------------------------------------------------------------------------------------------- model


def _const(values: tuple[float, ...], like: torch.Tensor) -> torch.Tensor:
    return torch.tensor(values, dtype=like.dtype, device=like.device).view(1, -1, 1, 1)


class DeFiAN(nn.Module):
    """DeFiAN generator (official ``Generator``): RGB in [0,1] N×3×H×W -> RGB N×3×sH×sW (not clamped).

    Any H, W with H·W ≥ 2 (DAC uses an unbiased variance); all convolutions keep the size, so no padding
    is needed. Attributes and state-dict keys are exactly the official ones.
    """

    def __init__(self, cfg: DeFiANConfig) -> None:
        super().__init__()
        c = cfg.n_channels
        self.cfg = cfg
        self.input = nn.Conv2d(3, c, 3, padding=1)
        self.body = nn.Sequential(
            *(DeFiAM(c, cfg.n_blocks, cfg.reduction, cfg.attention) for _ in range(cfg.n_modules))
        )
        self.tail = nn.Conv2d(c, c, 3, padding=1)  # in the state dict even when N == 1 leaves it unused
        self.upscale = nn.ModuleList([upscale_block(cfg.scale, c)])
        self.output = nn.Conv2d(c, 3, 3, padding=1)
        if cfg.freeze_mshf:
            for name, p in self.named_parameters():
                if ".hessian" in name:
                    p.requires_grad_(False)

    def _run(self, x: torch.Tensor, maps: dict[str, torch.Tensor] | None) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3 or x.shape[2] * x.shape[3] < 2:
            raise ImageError(f"DeFiAN expects N×3×H×W with H·W ≥ 2, got {tuple(x.shape)}")
        f0 = self.input(x)
        b = f0
        for i, module in enumerate(self.body):
            inner: dict[str, torch.Tensor] | None = {} if maps is not None else None
            b = module(b, inner)
            if maps is not None and inner:
                maps.update({f"body.{i}.{k}": v for k, v in inner.items()})
        # Official: a single module skips the tail conv and the global residual.
        z = b if len(self.body) == 1 else self.tail(b) + f0
        return self.output(self.upscale[0](z))

    def forward_official(self, x: torch.Tensor) -> torch.Tensor:
        """The official network as is: ImageNet-normalised LR in, ImageNet-normalised SR out."""
        return self._run(x, None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """RGB [0,1] N×3×H×W -> RGB N×3×sH×sW (normalise, official network, official rounded inverse)."""
        return self._from_official_range(self._run(self._to_official_range(x), None))

    def forward_with_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Forward on RGB [0,1] that also returns the interpretable maps of every module i:

        ``body.{i}.hessian{3,5,7}`` N×1×H×W channel means of the MSHF max-eigenvalue responses (what
        DiEnDec sees), ``body.{i}.diendec`` N×1×H×W, ``body.{i}.attention`` N×C×H×W in (0, 1) — the
        detail-fidelity gate. Empty dict when ``attention`` is off. H×W is the LR size.
        """
        maps: dict[str, torch.Tensor] = {}
        y = self._from_official_range(self._run(self._to_official_range(x), maps))
        return y, maps

    @staticmethod
    def _to_official_range(x: torch.Tensor) -> torch.Tensor:
        return (x - _const(IMAGENET_MEAN, x)) / _const(IMAGENET_STD, x)

    @staticmethod
    def _from_official_range(y: torch.Tensor) -> torch.Tensor:
        return (y - _const(OFFICIAL_OUT_MEAN, y)) / _const(OFFICIAL_OUT_STD, y)


def build(cfg: DeFiANConfig) -> DeFiAN:
    """Registry builder."""
    return DeFiAN(cfg)


# --------------------------------------------------------------------------------------------- variants

VARIANTS: dict[str, dict[str, int]] = {
    "defian_s": {"n_channels": 32, "n_blocks": 10, "n_modules": 5},
    "defian_l": {"n_channels": 64, "n_blocks": 20, "n_modules": 10},
}

# Total parameter counts (sum(p.numel() for p in model.parameters()), frozen MSHF included) from
# spec §1 / param_counts.json; they equal the paper's. With the default freeze_mshf=False they are also the
# trainable counts (HEAD's frozen-MSHF "trainable" numbers are 14,400 (S) / 57,600 (L) lower).
OFFICIAL_PARAMS: dict[str, dict[int, int]] = {
    "defian_s": {2: 1_027_610, 3: 1_073_690, 4: 1_064_474},
    "defian_l": {2: 15_186_057, 3: 15_370_377, 4: 15_333_513},
}


# ------------------------------------------------------------------------------------------- converter

_ANCHORS = ("input.weight", "output.weight", "tail.weight", "upscale.0.0.weight",
            "body.0.body_block.0.block.0.weight", "body.0.body_block.0.calayer.0.weight")


def infer_config(sd: StateDict) -> dict[str, Any] | None:
    """Every structural hyper-parameter of an official DeFiAN state dict, or None if it is not one."""
    if not all(k in sd for k in _ANCHORS):
        return None
    c = int(sd["input.weight"].shape[0])
    up = int(sd["upscale.0.0.weight"].shape[0])
    if "upscale.0.2.weight" in sd:
        scale = 4
    elif up == 9 * c:
        scale = 3
    elif up == 4 * c:
        scale = 2
    else:
        return None
    modules = key_indices(sd, r"body\.(\d+)\.body_block\.")
    blocks = key_indices(sd, r"body\.0\.body_block\.(\d+)\.")
    squeezed = int(sd["body.0.body_block.0.calayer.0.weight"].shape[0])
    return {
        "scale": scale,
        "n_channels": c,
        "n_modules": max(modules) + 1,
        "n_blocks": max(blocks) + 1,
        "reduction": c // max(squeezed, 1),
        "attention": "body.0.coder.0.gate.weight" in sd,
    }


def _detector(variant: str) -> Callable[[StateDict], dict[str, Any] | None]:
    """detect() for one named variant: ``defian_l`` claims exactly the L shape, ``defian_s`` every other
    DeFiAN state dict (so checkpoints with non-standard widths still load, reported as defian_s)."""
    shape_l = VARIANTS["defian_l"]

    def detect(sd: StateDict) -> dict[str, Any] | None:
        found = infer_config(sd)
        if found is None:
            return None
        is_l = all(found[k] == v for k, v in shape_l.items())
        return found if is_l == (variant == "defian_l") else None

    return detect


def expected_shapes(cfg: DeFiANConfig) -> dict[str, torch.Tensor]:
    """Our state dict for ``cfg`` as shape-only (meta) tensors, in official order."""
    with torch.device("meta"):
        return dict(DeFiAN(cfg).state_dict())


def convert(sd: StateDict, cfg: DeFiANConfig) -> dict[str, torch.Tensor]:
    """Official state dict -> ours (same names). Pure: returns a new dict, never touches ``sd``.

    Raises one CheckpointError listing every missing, unexpected and mis-shaped key.
    """
    expected = expected_shapes(cfg)
    check_keys(expected, sd, where=f"DeFiAN {cfg}")
    return {k: sd[k] for k in expected}


def _entry(name: str, summary: str) -> NetworkEntry:
    return NetworkEntry(
        name=name,
        config_cls=DeFiANConfig,
        build=build,
        scales=(2, 3, 4),
        defaults=dict(VARIANTS[name]),
        official_params=OFFICIAL_PARAMS[name],
        detect=_detector(name),
        convert=convert,
        summary=summary,
        family="defian",
    )


ENTRIES: tuple[NetworkEntry, ...] = (
    _entry("defian_s", "DeFiAN-S (Huang et al., TIP 2021): Hessian-filter detail-fidelity attention, 1.0M params"),
    _entry("defian_l", "DeFiAN-L (Huang et al., TIP 2021): 64 ch, 10 modules x 20 RCABs, 15.2M params"),
)
