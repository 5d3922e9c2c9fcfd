"""Realistic (blind) degradations: Real-ESRGAN's second-order pipeline and BSRGAN's shuffled one.

Papers: Wang et al., "Real-ESRGAN: Training Real-World Blind Super-Resolution with Pure Synthetic Data",
ICCVW 2021 (code: xinntao/Real-ESRGAN, ``realesrgan_model.py`` and basicsr's ``degradations.py``);
Zhang et al., "Designing a Practical Degradation Model for Deep Blind Image Super-Resolution", ICCV 2021
(code: cszn/BSRGAN, ``utils_blindsr.py``, ``degradation_bsrgan``). The ranges below are those papers'
defaults; the code is written from their descriptions.

Real-ESRGAN (:class:`RealESRGANConfig`), for an HR image of size (H, W) and scale s:

1. first stage: blur (a random kernel, :mod:`attnsr.image.kernels`), random resize (up / down / keep,
   area / bilinear / bicubic), Gaussian or Poisson noise (colour or gray), JPEG at a random quality;
2. second stage, with probability ``second_order_prob`` (1 in the paper): blur with probability
   ``blur_prob``, resize relative to (H/s, W/s), noise, then in random order either [resize to
   (H/s, W/s) + final sinc filter, JPEG] or [JPEG, resize + sinc];
   without a second stage the image is resized to (H/s, W/s) and sinc-filtered;
3. clamp and round to 8-bit levels.

BSRGAN (:class:`BSRGANConfig`): a random order of blur, blur, downsample (random factor in [1, 2s]
with a random interpolation, or a shifted Gaussian blur + nearest), downsample to exactly (H/s, W/s),
Gaussian noise (colour, gray or channel-correlated) and JPEG (probability 0.9); then a final JPEG. ×4
first halves the image with probability 0.25 and runs the ×2 model. The camera-ISP noise step needs
the authors' unreleased ISP model and is left out (their released code skips it too).

Differences from the reference code, on purpose:

* every image of a batch draws its own parameters from its own seed (the reference shares one resize
  factor per batch), so a batch gives exactly the images it would give one at a time;
* JPEG is real baseline JPEG (Pillow, 4:2:0 chroma, as the reference's DiffJPEG and OpenCV use),
  encoded per image on the CPU;
* all random draws come from ``torch.Generator`` objects seeded by the caller: no global RNG.

Tensors are float (N, C, H, W) in [0, 1] (RGB), any device; H and W multiples of ``scale``.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from attnsr.errors import ConfigError, ImageError
from attnsr.image import kernels as K
from attnsr.image.degrade import degrade, quantize_uint8

RESIZE_MODES = ("area", "bilinear", "bicubic")
PIPELINES = ("realesrgan", "bsrgan")
_GRAY = (0.299, 0.587, 0.114)  # ITU-R BT.601 luma weights, as the references' gray noise uses


# ------------------------------------------------------------------------------ single operations


def filter2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Correlate every channel of (N, C, H, W) with one (k, k) kernel, reflect padding, same size
    (replicate padding where the image is too small to reflect)."""
    k = kernel.to(device=x.device, dtype=x.dtype)
    size = k.shape[-1]
    p = size // 2
    mode = "reflect" if min(x.shape[-2:]) > p else "replicate"
    padded = F.pad(x, (p, p, p, p), mode=mode)
    c = x.shape[1]
    return F.conv2d(padded, k.expand(c, 1, size, size), groups=c)


def resize(x: torch.Tensor, size: tuple[int, int], mode: str) -> torch.Tensor:
    """Resize (N, C, H, W) to ``size`` with torch's area / bilinear / bicubic (no antialiasing, as the
    references' ``F.interpolate`` and ``cv2.resize`` calls)."""
    if mode not in RESIZE_MODES:
        raise ConfigError(f"resize mode {mode!r} is not one of {RESIZE_MODES}")
    size = (max(1, int(size[0])), max(1, int(size[1])))
    if tuple(x.shape[-2:]) == size:
        return x
    if mode == "area":
        return F.interpolate(x, size=size, mode="area")
    return F.interpolate(x, size=size, mode=mode, align_corners=False)


def _noise_like(x: torch.Tensor, gray: bool, g: torch.Generator) -> torch.Tensor:
    shape = (x.shape[0], 1, *x.shape[2:]) if gray else tuple(x.shape)
    return torch.randn(shape, generator=g, dtype=torch.float32).to(device=x.device, dtype=x.dtype)


def add_gaussian_noise(x: torch.Tensor, sigma: float, *, gray: bool, g: torch.Generator) -> torch.Tensor:
    """x + N(0, (sigma/255)²), one noise map for all channels when ``gray``; clamped to [0, 1]."""
    return (x + _noise_like(x, gray, g) * (sigma / 255.0)).clamp(0, 1)


def _gray(x: torch.Tensor) -> torch.Tensor:
    w = torch.tensor(_GRAY, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True) if x.shape[1] == 3 else x[:, :1]


def add_poisson_noise(x: torch.Tensor, scale: float, *, gray: bool, g: torch.Generator) -> torch.Tensor:
    """Shot noise: with v = 2^ceil(log2(#distinct 8-bit levels)), noise = Poisson(v·x)/v - x, times
    ``scale`` (Real-ESRGAN's rule); computed on the BT.601 gray image and shared by all channels when
    ``gray``. Clamped to [0, 1]."""
    base = _gray(x) if gray else x
    base = quantize_uint8(base)
    out = torch.empty_like(base)
    for i in range(base.shape[0]):  # one image at a time: v depends on the image
        levels = int(torch.unique(base[i]).numel())
        v = 2.0 ** math.ceil(math.log2(max(levels, 2)))
        rate = (base[i] * v).to("cpu", torch.float64)
        out[i] = (torch.poisson(rate, generator=g) / v).to(device=x.device, dtype=x.dtype)
    noise = (out - base) * scale
    return (x + noise).clamp(0, 1)


def jpeg(x: torch.Tensor, quality: int) -> torch.Tensor:
    """Encode every image of (N, C, H, W) as baseline JPEG at ``quality`` (1-100, 4:2:0) and decode it."""
    if not 1 <= int(quality) <= 100:
        raise ConfigError(f"JPEG quality must be in 1..100, got {quality}")
    arr = (x.detach().clamp(0, 1) * 255.0 + 0.5).floor().to("cpu", torch.uint8)
    out = []
    for img in arr:
        pixels = img.permute(1, 2, 0).numpy()
        im = Image.fromarray(pixels[..., 0] if pixels.shape[-1] == 1 else pixels)
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=int(quality), subsampling=2)
        buf.seek(0)
        decoded = np.asarray(Image.open(buf).convert(im.mode))
        out.append(torch.from_numpy(decoded.copy()).reshape(img.shape[1], img.shape[2], -1).permute(2, 0, 1))
    return (torch.stack(out).to(device=x.device, dtype=x.dtype) / 255.0)


def usm_sharpen(x: torch.Tensor, *, weight: float = 0.5, radius: int = 50, threshold: float = 10.0) -> torch.Tensor:
    """Unsharp masking as Real-ESRGAN sharpens its targets: with B the Gaussian blur of size
    ``radius`` (made odd) and OpenCV's automatic σ = 0.3((k-1)/2 - 1) + 0.8, the sharpened
    x + weight·(x - B) is blended in where |x - B|·255 > threshold (a blurred mask)."""
    size = radius + 1 if radius % 2 == 0 else radius
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    k = K.gaussian(size, sigma)
    blur = filter2d(x, k)
    residual = x - blur
    mask = (residual.abs() * 255.0 > threshold).to(x.dtype)
    soft = filter2d(mask, k)
    sharp = (x + weight * residual).clamp(0, 1)
    return soft * sharp + (1 - soft) * x


# ------------------------------------------------------------------------------ Real-ESRGAN


def _check_range(name: str, pair: tuple[float, float], lo: float = 0.0) -> None:
    if pair[0] < lo or pair[1] < pair[0]:
        raise ConfigError(f"{name}: need {lo} <= lo <= hi, got {tuple(pair)}")


def _check_prob(name: str, p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ConfigError(f"{name}: a probability in [0, 1], got {p}")


@dataclass(frozen=True)
class StageConfig:
    """One Real-ESRGAN degradation stage; defaults are the paper's first stage."""

    blur_prob: float = 1.0
    kernel: K.KernelConfig = field(default_factory=K.KernelConfig)
    #: probabilities of resizing up, down, or keeping the size
    resize_probs: tuple[float, float, float] = (0.2, 0.7, 0.1)
    resize_range: tuple[float, float] = (0.15, 1.5)
    resize_modes: tuple[str, ...] = RESIZE_MODES
    #: probability of adding noise at all (the paper always does: 1.0)
    noise_prob: float = 1.0
    #: Gaussian noise with this probability, Poisson otherwise
    gaussian_noise_prob: float = 0.5
    #: Gaussian σ on the 0-255 scale
    noise_sigma: tuple[float, float] = (1.0, 30.0)
    poisson_scale: tuple[float, float] = (0.05, 3.0)
    gray_noise_prob: float = 0.4
    jpeg_prob: float = 1.0
    jpeg_quality: tuple[float, float] = (30.0, 95.0)

    def __post_init__(self) -> None:
        for name in ("blur_prob", "noise_prob", "gaussian_noise_prob", "gray_noise_prob", "jpeg_prob"):
            _check_prob(name, getattr(self, name))
        if min(self.resize_probs) < 0 or sum(self.resize_probs) <= 0:
            raise ConfigError(f"resize_probs: need three non-negative weights, got {self.resize_probs}")
        if self.resize_range[0] <= 0 or self.resize_range[1] < self.resize_range[0]:
            raise ConfigError(f"resize_range: need 0 < lo <= hi, got {self.resize_range}")
        if not self.resize_modes or set(self.resize_modes) - set(RESIZE_MODES):
            raise ConfigError(f"resize_modes: choose from {RESIZE_MODES}, got {self.resize_modes}")
        _check_range("noise_sigma", self.noise_sigma)
        _check_range("poisson_scale", self.poisson_scale)
        _check_range("jpeg_quality", self.jpeg_quality, 1.0)
        if self.jpeg_quality[1] > 100:
            raise ConfigError(f"jpeg_quality: at most 100, got {self.jpeg_quality}")


#: the paper's second stage
SECOND_STAGE = StageConfig(
    blur_prob=0.8, kernel=K.KernelConfig(sigma=(0.2, 1.5)), resize_probs=(0.3, 0.4, 0.3),
    resize_range=(0.3, 1.2), noise_sigma=(1.0, 25.0), poisson_scale=(0.05, 2.5),
)


@dataclass(frozen=True)
class RealESRGANConfig:
    """Real-ESRGAN's second-order model; defaults are the paper's (RealESRGAN_x4plus training)."""

    first: StageConfig = field(default_factory=StageConfig)
    second: StageConfig = SECOND_STAGE
    second_order_prob: float = 1.0
    final_sinc_prob: float = 0.8
    #: probability of [resize + sinc, then JPEG] (else JPEG first) in the second stage
    jpeg_last_prob: float = 0.5
    kernel_pad: int = 21

    def __post_init__(self) -> None:
        for name in ("second_order_prob", "final_sinc_prob", "jpeg_last_prob"):
            _check_prob(name, getattr(self, name))
        if self.kernel_pad < 1 or self.kernel_pad % 2 == 0:
            raise ConfigError(f"kernel_pad: a positive odd size, got {self.kernel_pad}")


def _random_resize(x: torch.Tensor, stage: StageConfig, ref: tuple[int, int], g: torch.Generator) -> torch.Tensor:
    kind = K.choice(g, stage.resize_probs)
    if kind == 0:
        factor = K.uniform(g, 1.0, stage.resize_range[1])
    elif kind == 1:
        factor = K.uniform(g, stage.resize_range[0], 1.0)
    else:
        factor = 1.0
    mode = stage.resize_modes[K.choice(g, (1.0,) * len(stage.resize_modes))]
    return resize(x, (int(ref[0] * factor), int(ref[1] * factor)), mode)


def _random_noise(x: torch.Tensor, stage: StageConfig, g: torch.Generator) -> torch.Tensor:
    if K.uniform(g, 0, 1) >= stage.noise_prob:
        return x
    gaussian = K.uniform(g, 0, 1) < stage.gaussian_noise_prob
    gray = K.uniform(g, 0, 1) < stage.gray_noise_prob
    if gaussian:
        return add_gaussian_noise(x, K.uniform(g, *stage.noise_sigma), gray=gray, g=g)
    return add_poisson_noise(x, K.uniform(g, *stage.poisson_scale), gray=gray, g=g)


def _random_jpeg(x: torch.Tensor, stage: StageConfig, g: torch.Generator) -> torch.Tensor:
    if K.uniform(g, 0, 1) >= stage.jpeg_prob:
        return x
    return jpeg(x, int(round(K.uniform(g, *stage.jpeg_quality))))


def _final_sinc(cfg: RealESRGANConfig, g: torch.Generator) -> torch.Tensor | None:
    if K.uniform(g, 0, 1) >= cfg.final_sinc_prob:
        return None
    size = 2 * K.randint(g, 3, 10) + 1  # 7 .. 21, as the first-stage kernel sizes
    return K.sinc(size, K.uniform(g, math.pi / 3, math.pi))


def _realesrgan_one(x: torch.Tensor, scale: int, cfg: RealESRGANConfig, g: torch.Generator) -> torch.Tensor:
    h, w = x.shape[-2:]
    lr_size = (h // scale, w // scale)
    s1 = cfg.first
    if K.uniform(g, 0, 1) < s1.blur_prob:
        x = filter2d(x, K.random_kernel(s1.kernel, g, pad_to=cfg.kernel_pad))
    x = _random_resize(x, s1, (h, w), g)
    x = _random_noise(x, s1, g)
    x = _random_jpeg(x, s1, g)
    modes = cfg.second.resize_modes
    second = K.uniform(g, 0, 1) < cfg.second_order_prob
    if second:
        s2 = cfg.second
        if K.uniform(g, 0, 1) < s2.blur_prob:
            x = filter2d(x, K.random_kernel(s2.kernel, g, pad_to=cfg.kernel_pad))
        x = _random_resize(x, s2, lr_size, g)
        x = _random_noise(x, s2, g)
    mode = modes[K.choice(g, (1.0,) * len(modes))]
    sinc = _final_sinc(cfg, g)

    def to_lr(img: torch.Tensor) -> torch.Tensor:
        img = resize(img, lr_size, mode)
        return filter2d(img, sinc) if sinc is not None else img

    if not second:
        x = to_lr(x)
    elif K.uniform(g, 0, 1) < cfg.jpeg_last_prob:
        x = _random_jpeg(to_lr(x), cfg.second, g)
    else:
        x = to_lr(_random_jpeg(x, cfg.second, g))
    return quantize_uint8(x)


# ------------------------------------------------------------------------------ BSRGAN


@dataclass(frozen=True)
class BSRGANConfig:
    """BSRGAN's shuffled model; defaults are the paper's (``degradation_bsrgan``)."""

    jpeg_prob: float = 0.9
    scale2_prob: float = 0.25
    #: Gaussian noise level on the 0-255 scale (an integer drawn in this range)
    noise_level: tuple[int, int] = (2, 25)
    jpeg_quality: tuple[int, int] = (30, 95)

    def __post_init__(self) -> None:
        _check_prob("jpeg_prob", self.jpeg_prob)
        _check_prob("scale2_prob", self.scale2_prob)
        _check_range("noise_level", self.noise_level)
        _check_range("jpeg_quality", self.jpeg_quality, 1)


_BSR_MODES = ("bilinear", "bicubic", "area")  # OpenCV's INTER_LINEAR, INTER_CUBIC, INTER_AREA


def _bsr_mode(g: torch.Generator) -> str:
    return _BSR_MODES[K.randint(g, 0, 2)]


def _bsr_blur(x: torch.Tensor, sf: int, g: torch.Generator) -> torch.Tensor:
    size = 2 * K.randint(g, 2, 11) + 3
    if K.uniform(g, 0, 1) < 0.5:
        wd2 = 4.0 + sf  # the eigenvalues (variances) of the anisotropic covariance are in [0, wd2)
        l1, l2 = (max(K.uniform(g, 0, wd2), 1e-2) for _ in range(2))
        k = K.gaussian(size, math.sqrt(l1), math.sqrt(l2), K.uniform(g, 0, math.pi))
    else:
        sigma = max((2.0 + 0.2 * sf) * K.uniform(g, 0, 1), 1e-2)
        k = K.gaussian(size, sigma)
    return filter2d(x, k)


def _bsr_noise(x: torch.Tensor, levels: tuple[int, int], g: torch.Generator) -> torch.Tensor:
    level = K.randint(g, *levels) / 255.0
    r = K.uniform(g, 0, 1)
    if r > 0.6:
        return (x + _noise_like(x, False, g) * level).clamp(0, 1)
    if r < 0.4:
        return (x + _noise_like(x, True, g) * level).clamp(0, 1)
    # channel-correlated noise: covariance |L² Uᵀ D U| with D diagonal in [0, 1) and U orthonormal
    big = levels[1] / 255.0
    d = torch.diag(torch.rand(3, generator=g, dtype=torch.float64))
    u, _ = torch.linalg.qr(torch.rand(3, 3, generator=g, dtype=torch.float64))
    cov = (big * big * (u.T @ d @ u)).abs()
    chol = torch.linalg.cholesky(cov + 1e-12 * torch.eye(3, dtype=torch.float64))
    z = torch.randn((x.shape[0], x.shape[-2], x.shape[-1], 3), generator=g, dtype=torch.float64)
    noise = (z @ chol.T).permute(0, 3, 1, 2)
    return (x + noise.to(device=x.device, dtype=x.dtype)).clamp(0, 1)


def _bsr_jpeg(x: torch.Tensor, cfg: BSRGANConfig, g: torch.Generator) -> torch.Tensor:
    return jpeg(x, K.randint(g, *cfg.jpeg_quality))


def _bsrgan_one(x: torch.Tensor, scale: int, cfg: BSRGANConfig, g: torch.Generator) -> torch.Tensor:
    h, w = x.shape[-2:]
    sf = scale
    if sf == 4 and K.uniform(g, 0, 1) < cfg.scale2_prob:
        x = resize(x, (h // 2, w // 2), _bsr_mode(g)).clamp(0, 1)
        sf = 2
    order = torch.randperm(6, generator=g).tolist()
    i2, i3 = order.index(2), order.index(3)
    if i2 > i3:  # the exact-size downsample (3) comes after the random one (2)
        order[i2], order[i3] = order[i3], order[i2]
    ref = tuple(x.shape[-2:])
    for op in order:
        if op in (0, 1):
            x = _bsr_blur(x, sf, g)
        elif op == 2:
            if K.uniform(g, 0, 1) < 0.75:
                f = K.uniform(g, 1.0, 2.0 * sf)
                x = resize(x, (int(x.shape[-2] / f), int(x.shape[-1] / f)), _bsr_mode(g))
            else:
                shift = (sf - 1) / 2.0  # centre the kernel on each s×s block before nearest sampling
                k = K.gaussian(25, K.uniform(g, 0.1, 0.6 * sf), shift=shift)
                x = filter2d(x, k)[..., 0::sf, 0::sf]
            x = x.clamp(0, 1)
        elif op == 3:
            x = resize(x, (ref[0] // sf, ref[1] // sf), _bsr_mode(g)).clamp(0, 1)
        elif op == 4:
            x = _bsr_noise(x, cfg.noise_level, g)
        elif K.uniform(g, 0, 1) < cfg.jpeg_prob:  # op == 5
            x = _bsr_jpeg(x, cfg, g)
    x = _bsr_jpeg(x, cfg, g)
    if tuple(x.shape[-2:]) != (h // scale, w // scale):  # a ×2 branch of ×4 that ended one step short
        x = resize(x, (h // scale, w // scale), _bsr_mode(g))
    return quantize_uint8(x)


# ------------------------------------------------------------------------------ the public entry


@dataclass(frozen=True)
class RealisticConfig:
    """Which realistic pipeline, its settings, and whether the HR target is USM-sharpened."""

    pipeline: str = "realesrgan"
    realesrgan: RealESRGANConfig = field(default_factory=RealESRGANConfig)
    bsrgan: BSRGANConfig = field(default_factory=BSRGANConfig)
    #: sharpen the HR target with :func:`usm_sharpen` (Real-ESRGAN's x4plus PSNR model trains on it)
    usm_target: bool = False
    #: probability that an image gets the clean MATLAB-bicubic LR (``degrade(kind="BI")``) instead of
    #: the pipeline, so one model serves clean and degraded input; drawn first from the image's seed,
    #: and only when > 0 (with 0 the draws are those of the pipeline alone)
    clean_prob: float = 0.0

    def __post_init__(self) -> None:
        if self.pipeline not in PIPELINES:
            raise ConfigError(f"pipeline: {self.pipeline!r} is not one of {PIPELINES}")
        _check_prob("clean_prob", self.clean_prob)


def _mild_eval_config() -> RealisticConfig:
    first = StageConfig(
        blur_prob=1.0,
        kernel=K.KernelConfig(kinds=("iso", "aniso"), probs=(0.5, 0.5), sizes=(7, 15), sigma=(0.3, 1.5),
                              sinc_prob=0.0),
        resize_probs=(0.0, 0.0, 1.0), noise_prob=0.0, jpeg_prob=0.0,
    )
    second = StageConfig(
        blur_prob=0.0, resize_probs=(0.0, 0.0, 1.0), noise_prob=1.0, gaussian_noise_prob=0.7,
        noise_sigma=(1.0, 8.0), poisson_scale=(0.05, 0.5), gray_noise_prob=0.4, jpeg_prob=1.0,
        jpeg_quality=(60.0, 95.0),
    )
    return RealisticConfig(realesrgan=RealESRGANConfig(first=first, second=second, second_order_prob=1.0,
                                                       final_sinc_prob=0.0, jpeg_last_prob=1.0))


#: The fixed test-time setting of ``attnsr eval --degradation realistic`` ("a photo"): blur by a random
#: isotropic or anisotropic Gaussian (σ 0.3-1.5 HR px, 7-15 taps), downscale to exactly H/s × W/s by
#: area, bilinear or bicubic, Gaussian (σ 1-8 of 255, p 0.7) or Poisson (scale 0.05-0.5) noise, colour
#: or gray (p 0.4), then JPEG at quality 60-95; each image's draws come from its seed.
EVAL_REALISTIC = _mild_eval_config()


def mix_seed(*parts: int) -> int:
    """A 63-bit seed from integers (SplitMix64 steps): distinct, well-spread seeds for (run, step, image)."""
    z = 0x9E3779B97F4A7C15
    mask = (1 << 64) - 1
    for p in parts:
        z = (z + (int(p) & mask) + 0x9E3779B97F4A7C15) & mask
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & mask
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & mask
        z ^= z >> 31
    return z & ((1 << 63) - 1)


def degrade_realistic(hr: torch.Tensor, scale: int, cfg: RealisticConfig, seeds: Sequence[int]) -> torch.Tensor:
    """LR images from ``hr`` ((N, C, H, W) or (C, H, W), float in [0, 1]) with the pipeline of ``cfg``;
    image i draws everything from ``torch.Generator().manual_seed(seeds[i])``, so the result for an
    image does not depend on the rest of the batch. Returns (N, C, H/s, W/s) on 8-bit levels, same
    dtype and device as ``hr``. With ``cfg.clean_prob`` an image may get the clean bicubic LR instead
    (see :class:`RealisticConfig`). The HR target is not changed here (see :func:`prepare_target`)."""
    batched = hr.dim() == 4
    x = hr if batched else hr.unsqueeze(0)
    if x.dim() != 4 or not x.is_floating_point():
        raise ImageError(f"degrade_realistic: expected float (N, C, H, W), got {tuple(hr.shape)} {hr.dtype}")
    if not isinstance(scale, int) or scale < 1:
        raise ConfigError(f"degrade_realistic: scale must be a positive integer, got {scale!r}")
    if x.shape[-2] % scale or x.shape[-1] % scale:
        raise ImageError(f"degrade_realistic: size {tuple(x.shape[-2:])} is not a multiple of scale {scale}")
    if len(seeds) != x.shape[0]:
        raise ConfigError(f"degrade_realistic: {x.shape[0]} images but {len(seeds)} seeds")
    one = _realesrgan_one if cfg.pipeline == "realesrgan" else _bsrgan_one
    sub = cfg.realesrgan if cfg.pipeline == "realesrgan" else cfg.bsrgan
    out = []
    for img, seed in zip(x, seeds):
        g = torch.Generator().manual_seed(int(seed))
        if cfg.clean_prob > 0 and float(torch.rand((), generator=g)) < cfg.clean_prob:
            out.append(degrade(img.unsqueeze(0), scale, "BI").to(x.dtype))
        else:
            out.append(one(img.unsqueeze(0), scale, sub, g))  # type: ignore[arg-type]
    lr = torch.cat(out)
    return lr if batched else lr.squeeze(0)


def prepare_target(hr: torch.Tensor, cfg: RealisticConfig) -> torch.Tensor:
    """The training target for ``hr``: USM-sharpened when ``cfg.usm_target``, else ``hr`` itself."""
    return usm_sharpen(hr) if cfg.usm_target else hr
