"""NIQE (Mittal, Soundararajan & Bovik, "Making a 'Completely Blind' Image Quality Analyzer", 2013).

A faithful port of the LIVE MATLAB release (``niqe.m`` / ``computefeature.m`` / ``estimateaggdparam.m``)
with its pristine model (``attnsr/assets/niqe_pris_params.npz``, the LIVE release's ``modelparameters.mat``
as BasicSR ships it): 96x96 blocks without overlap, 7x7 Gaussian window with replicate padding for the
MSCN map, 18 AGGD features per block at full and half resolution (MATLAB bicubic ``imresize(0.5)``), and
the Mahalanobis-like distance between the image's feature Gaussian and the pristine one.

Lower is better. On ``baboon.png`` of BasicSR's test data this gives 5.7296 (MATLAB R2021a: 5.72957338).

Vectorised: all blocks of an image are processed at once; only the AGGD shape search is chunked to bound
memory (9801 candidate shapes per block, MATLAB's ``0.2:0.001:10`` grid).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources
from typing import Literal, cast

import numpy as np
import torch
import torch.nn.functional as F

from attnsr.errors import ImageError
from attnsr.image.color import rgb_to_y
from attnsr.image.resize import imresize

#: block size of the LIVE model (pixels, both dimensions)
BLOCK = 96
#: MATLAB ``gam = 0.2:0.001:10`` (the AGGD shape candidates)
_GAMMA_GRID = torch.arange(200, 10001, dtype=torch.float64) / 1000.0
#: circshift offsets for the four pairwise-product orientations (horizontal, vertical, two diagonals)
_SHIFTS = ((0, 1), (1, 0), (1, 1), (1, -1))
#: MATLAB ``rgb2gray`` coefficients (rounded NTSC luma)
_GRAY = (0.2989, 0.5870, 0.1140)


@dataclass(frozen=True)
class NiqeModel:
    """A NIQE pristine model: feature mean (36,), feature covariance (36, 36), MSCN window (7, 7); float64."""

    mu: torch.Tensor
    cov: torch.Tensor
    window: torch.Tensor


@functools.lru_cache(maxsize=1)
def pristine_model() -> NiqeModel:
    """The LIVE pristine model shipped as package data (read once per process)."""
    ref = resources.files("attnsr").joinpath("assets/niqe_pris_params.npz")
    with resources.as_file(ref) as path, np.load(path) as data:
        try:
            mu, cov, win = data["mu_pris_param"], data["cov_pris_param"], data["gaussian_window"]
        except KeyError as exc:
            raise ImageError(f"{path}: missing array {exc} in the NIQE pristine model") from None
        return NiqeModel(torch.from_numpy(mu.reshape(-1).astype(np.float64)),
                         torch.from_numpy(cov.astype(np.float64)),
                         torch.from_numpy(win.astype(np.float64)))


@functools.lru_cache(maxsize=1)
def _shape_ratio_table() -> torch.Tensor:
    """r(g) = Gamma(2/g)^2 / (Gamma(1/g) Gamma(3/g)) on the MATLAB grid, the curve the AGGD fit inverts."""
    g = _GAMMA_GRID
    return torch.exp(2 * torch.lgamma(2 / g) - torch.lgamma(1 / g) - torch.lgamma(3 / g))


def _aggd_fit(x: torch.Tensor, chunk: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Moment-matching AGGD fit of each row of ``x`` (B, n) -> (alpha, beta_left, beta_right), each (B,).

    Mirrors ``estimateaggdparam.m``: left/right standard deviations of the negative/positive samples, the
    corrected ratio, then the grid shape whose r(g) is nearest (first index on ties; an undefined ratio
    picks the first grid value, as MATLAB's ``min`` over NaNs does).
    """
    neg, pos = (x < 0).to(x.dtype), (x > 0).to(x.dtype)
    sq = x * x
    left = torch.sqrt((sq * neg).sum(1) / neg.sum(1))
    right = torch.sqrt((sq * pos).sum(1) / pos.sum(1))
    gammahat = left / right
    rhat = x.abs().mean(1) ** 2 / sq.mean(1)
    rnorm = rhat * (gammahat**3 + 1) * (gammahat + 1) / (gammahat**2 + 1) ** 2
    table = _shape_ratio_table()
    idx = torch.cat([((table[None, :] - r[:, None]) ** 2).nan_to_num(nan=float("inf")).argmin(1)
                     for r in rnorm.split(chunk)])
    alpha = _GAMMA_GRID[idx]
    scale = torch.exp(0.5 * (torch.lgamma(1 / alpha) - torch.lgamma(3 / alpha)))
    return alpha, left * scale, right * scale


def _block_features(blocks: torch.Tensor) -> torch.Tensor:
    """The 18 ``computefeature.m`` features of each MSCN block (B, s, s) -> (B, 18)."""
    flat = blocks.flatten(1)
    alpha, bl, br = _aggd_fit(flat)
    feats = [alpha, (bl + br) / 2]
    for shift in _SHIFTS:
        pair = flat * torch.roll(blocks, shifts=shift, dims=(1, 2)).flatten(1)
        alpha, bl, br = _aggd_fit(pair)
        mean = (br - bl) * torch.exp(torch.lgamma(2 / alpha) - torch.lgamma(1 / alpha))
        feats += [alpha, mean, bl, br]
    return torch.stack(feats, dim=1)


def _mscn(img: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Mean-subtracted contrast-normalised map of a (H, W) float64 image; ``imfilter(...,'replicate')``.

    The local mean and second moment are filtered in float64 but then rounded to float32, and the
    variance, sigma and the normalisation are done in float32, as MATLAB's single-precision ``niqe`` (and
    BasicSR's scipy port) do. This matters: sigma = sqrt(|E[x^2] - mu^2|) cancels catastrophically in flat
    regions, and the AGGD shape search snaps to a 0.001 grid, so on baboon.png float32 lands within 3e-6
    of MATLAB (5.729576) where an all-float64 pipeline drifts to 5.729960.
    """
    k = window.flip(0, 1)[None, None]  # imfilter correlates; flipping keeps it exact for any window
    pad = (k.shape[-1] // 2, k.shape[-1] // 2, k.shape[-2] // 2, k.shape[-2] // 2)
    x = img[None, None]
    mu = F.conv2d(F.pad(x, pad, mode="replicate"), k).float()
    second = F.conv2d(F.pad(x * x, pad, mode="replicate"), k).float()
    sigma = torch.sqrt((second - mu * mu).abs())
    return ((x.float() - mu) / (sigma + 1))[0, 0].double()


def _to_blocks(img: torch.Tensor, size: int) -> torch.Tensor:
    """(nh*size, nw*size) -> (nh*nw, size, size) non-overlapping blocks."""
    nh, nw = img.shape[0] // size, img.shape[1] // size
    return img.reshape(nh, size, nw, size).permute(0, 2, 1, 3).reshape(nh * nw, size, size)


def niqe_gray(img: torch.Tensor, model: NiqeModel | None = None) -> float:
    """NIQE of one grey image (H, W) on the 0-255 scale (float; MATLAB rounds it to integers first).

    The image is cropped bottom/right to whole 96x96 blocks; at least one block is needed.
    """
    model = model or pristine_model()
    if img.dim() != 2:
        raise ImageError(f"niqe_gray: expected a (H, W) image, got shape {tuple(img.shape)}")
    nh, nw = img.shape[0] // BLOCK, img.shape[1] // BLOCK
    if nh == 0 or nw == 0:
        raise ImageError(f"niqe: image of shape {tuple(img.shape)} is smaller than one {BLOCK}x{BLOCK} block")
    x = img.to(torch.float64)[: nh * BLOCK, : nw * BLOCK]
    window = model.window.to(x.device)
    feats = []
    for size in (BLOCK, BLOCK // 2):
        feats.append(_block_features(_to_blocks(_mscn(x, window), size)))
        if size == BLOCK:
            x = imresize(x, 0.5)  # MATLAB bicubic with antialiasing, float64, no rounding
    dist = torch.cat(feats, dim=1)
    mu_d = dist.nanmean(0)
    valid = dist[~dist.isnan().any(1)]
    if valid.shape[0] < 2:  # the covariance of the image's block features needs two blocks
        raise ImageError(f"niqe: image of shape {tuple(img.shape)} has {valid.shape[0]} usable {BLOCK}x{BLOCK} "
                         "block(s); NIQE needs at least 2")
    cov_d = torch.cov(valid.T)
    diff = model.mu.to(x.device) - mu_d
    inv = torch.linalg.pinv((model.cov.to(x.device) + cov_d) / 2)
    return float(torch.sqrt(diff @ inv @ diff))


def niqe(img: torch.Tensor, *, crop_border: int = 0, convert_to: Literal["y", "gray"] = "y",
         model: NiqeModel | None = None) -> torch.Tensor:
    """NIQE per image of a batch (N, 3, H, W) RGB or (N, 1, H, W) luminance in [0, 1] -> (N,) float64.

    ``convert_to``: 'y' = BT.601 Y (16-235, the SR convention, BasicSR's default) or 'gray' = MATLAB
    ``rgb2gray`` (what MATLAB's ``niqe`` does to RGB input). The 0-255 luminance is rounded to integers
    like MATLAB's uint8 images, then ``crop_border`` pixels are removed from every side (PIRM uses the
    scale, 4 for x4); note that the 96-px block grid then shifts, which changes the score noticeably.
    """
    if img.dim() != 4 or img.shape[1] not in (1, 3):
        raise ImageError(f"niqe: expected (N, 3, H, W) or (N, 1, H, W), got shape {tuple(img.shape)}")
    x = img.detach().to(torch.float64)
    if x.shape[1] == 3:
        if convert_to == "y":
            x = rgb_to_y(x)
        elif convert_to == "gray":
            x = cast(torch.Tensor, sum(c * x[:, i : i + 1] for i, c in enumerate(_GRAY)))
        else:
            raise ImageError(f"niqe: convert_to must be 'y' or 'gray', got {convert_to!r}")
    lum = torch.round(x[:, 0] * 255.0)
    if crop_border:
        lum = lum[:, crop_border:-crop_border, crop_border:-crop_border]
    return torch.tensor([niqe_gray(one, model) for one in lum], dtype=torch.float64)
