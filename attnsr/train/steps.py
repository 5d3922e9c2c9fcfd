"""One optimisation step: the PSNR-oriented sr-step and the adversarial gan-step (spec fasrgan.md §5).

Pure-ish functions over explicit modules and optimisers: no global state, nothing hidden in classes. The
loop (:mod:`attnsr.train.loop`) calls exactly one of :func:`sr_step` or :func:`gan_step` per iteration.
Tensors are float NCHW RGB in [0, 1]; every step returns a dict of detached scalar tensors for logging.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
from torch import nn

from attnsr.train import losses
from attnsr.train.config import GanConfig

Loss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
GradSync = Callable[[list[torch.Tensor]], None]


@dataclass
class Precision:
    """Autocast settings (CUDA only) and the fp16 gradient scaler of one optimiser (None otherwise)."""

    device_type: str = "cpu"
    dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


def _params(optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    return [p for group in optimizer.param_groups for p in group["params"]]


def backward_and_step(loss: torch.Tensor, optimizer: torch.optim.Optimizer, *, precision: Precision,
                      grad_clip: float = 0.0, sync: GradSync | None = None) -> None:
    """Backward, optional cross-process gradient averaging, total-norm clipping, optimiser step."""
    scaler = precision.scaler
    (scaler.scale(loss) if scaler is not None else loss).backward()
    params = _params(optimizer)
    if sync is not None:
        sync(params)
    if scaler is not None:
        scaler.unscale_(optimizer)
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_([p for p in params if p.grad is not None], grad_clip)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()


def sr_loss(sr: torch.Tensor, hr: torch.Tensor, *, pixel: Loss, pixel_weight: float = 1.0,
            perceptual: nn.Module | None = None, perceptual_weight: float = 0.0) -> dict[str, torch.Tensor]:
    """Weighted pixel (+ perceptual) loss; ``total`` is what is minimised. Computed in float32."""
    sr = sr.float()
    parts = {"pix": pixel_weight * pixel(sr, hr)}
    if perceptual is not None and perceptual_weight > 0:
        parts["fea"] = perceptual_weight * perceptual(sr, hr)
    parts["total"] = sum(parts.values())  # type: ignore[assignment]
    return parts


def sr_step(model: nn.Module, lr: torch.Tensor, hr: torch.Tensor, optimizer: torch.optim.Optimizer, *,
            pixel: Loss, pixel_weight: float = 1.0, perceptual: nn.Module | None = None,
            perceptual_weight: float = 0.0, precision: Precision | None = None,
            grad_clip: float = 0.0) -> dict[str, torch.Tensor]:
    """One supervised step: minimise the pixel (+ perceptual) loss of ``model(lr)`` against ``hr``."""
    precision = precision or Precision()
    optimizer.zero_grad(set_to_none=True)
    with precision.autocast():
        sr = model(lr)
    parts = sr_loss(sr, hr, pixel=pixel, pixel_weight=pixel_weight, perceptual=perceptual,
                    perceptual_weight=perceptual_weight)
    backward_and_step(parts["total"], optimizer, precision=precision, grad_clip=grad_clip)
    return {k: v.detach() for k, v in parts.items()}


# --------------------------------------------------------------------------------------------- GAN


@dataclass
class GanNets:
    """The networks of one GAN run.

    generator: LR → SR. discriminator: image → score logits (N,1), or (score, map) for the U-Net. For
    Fs-SRGAN / FA+Fs the discriminator applies the generator's own extractor first (``D(E(x))`` with
    ``discriminator.E is generator.E``); parameters shared with the generator are never frozen.
    """

    generator: nn.Module
    discriminator: nn.Module

    def judge(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(score logits, per-pixel map logits or None) of the discriminator on image ``x``."""
        out = self.discriminator(x)
        if isinstance(out, (tuple, list)):
            return out[0], out[1]
        return out, None

    def discriminator_only(self) -> list[nn.Parameter]:
        """Parameters of D that the generator does not share (what the G step freezes)."""
        shared = {id(p) for p in self.generator.parameters()}
        return [p for p in self.discriminator.parameters() if id(p) not in shared]


@contextlib.contextmanager
def frozen(params: list[nn.Parameter]) -> Iterator[None]:
    """``params`` need no gradient inside the block (D's own parameters during the G step)."""
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


def generator_loss(nets: GanNets, lr: torch.Tensor, hr: torch.Tensor, cfg: GanConfig, *,
                   perceptual: nn.Module | None,
                   precision: Precision | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """FASRGAN / Fs-SRGAN generator objective. Returns (SR, parts) with ``parts['total']`` = L_G.

    L_G = w_pix·L1(SR,HR) + w_fea·L1(φ(SR),φ(HR)) + w_gan·RaGAN_G(s_r, s_f)
          [+ w_map·½(BCE(m_r,0) + BCE(m_f,1)) + mean(w_att·|SR−HR|·(1−σ(m_f)).detach()) with a U-Net D].
    D's parameters are frozen here, E's are not (E gets gradient through D(E(SR))). D(HR) is evaluated
    without gradient (the reference detaches it); D stays in train mode (BN uses batch statistics).
    """
    precision = precision or Precision()
    with precision.autocast():
        sr = nets.generator(lr)
    sr32 = sr.float()
    parts: dict[str, torch.Tensor] = {"pix": cfg.pixel_weight * losses.l1_loss(sr32, hr)}
    if perceptual is not None and cfg.feature_weight > 0:
        parts["fea"] = cfg.feature_weight * perceptual(sr32, hr)
    with frozen(nets.discriminator_only()), precision.autocast():
        with torch.no_grad():
            s_r, m_r = nets.judge(hr)
        s_f, m_f = nets.judge(sr)
    parts["adv"] = cfg.gan_weight * losses.relativistic_g(s_r.float(), s_f.float())
    if m_f is not None and m_r is not None:
        m_f = m_f.float()
        parts["map"] = cfg.map_weight * 0.5 * (losses.bce(m_r.float(), 0.0) + losses.bce(m_f, 1.0))
        if cfg.attention_weight > 0:
            weight = (1.0 - torch.sigmoid(m_f)).detach()
            parts["att"] = (cfg.attention_weight * (sr32 - hr).abs() * weight).mean()
    parts["total"] = sum(parts.values())  # type: ignore[assignment]
    return sr, parts


def discriminator_loss(nets: GanNets, sr: torch.Tensor, hr: torch.Tensor, *,
                       precision: Precision | None = None) -> dict[str, torch.Tensor]:
    """L_D = RaGAN_D(s_r, s_f) [+ ½(BCE(m_r,1) + BCE(m_f,0))] on HR and the detached SR (fresh D calls,
    HR first as in the reference). With a shared E, E receives this gradient too."""
    precision = precision or Precision()
    with precision.autocast():
        s_r, m_r = nets.judge(hr)
        s_f, m_f = nets.judge(sr.detach())
    parts = {"d_adv": losses.relativistic_d(s_r.float(), s_f.float())}
    if m_r is not None and m_f is not None:
        parts["d_map"] = 0.5 * (losses.bce(m_r.float(), 1.0) + losses.bce(m_f.float(), 0.0))
    parts["d_total"] = sum(parts.values())  # type: ignore[assignment]
    return parts


def gan_step(nets: GanNets, lr: torch.Tensor, hr: torch.Tensor, cfg: GanConfig, *,
             opt_g: torch.optim.Optimizer, opt_d: torch.optim.Optimizer, perceptual: nn.Module | None,
             precision_g: Precision | None = None, precision_d: Precision | None = None,
             clip_g: float = 0.0, clip_d: float = 0.0, sync: GradSync | None = None) -> dict[str, torch.Tensor]:
    """One generator update, then one discriminator update (D_update_ratio 1, D_init_iters 0).

    ``opt_g`` holds G (and E); ``opt_d`` holds D (and E): with a shared extractor E takes two Adam steps
    per iteration from two independent states, as the reference does. ``sync`` averages gradients over
    processes (distributed runs).
    """
    precision_g, precision_d = precision_g or Precision(), precision_d or Precision()
    opt_g.zero_grad(set_to_none=True)
    sr, parts = generator_loss(nets, lr, hr, cfg, perceptual=perceptual, precision=precision_g)
    backward_and_step(parts["total"], opt_g, precision=precision_g, grad_clip=clip_g, sync=sync)
    opt_d.zero_grad(set_to_none=True)
    d_parts = discriminator_loss(nets, sr, hr, precision=precision_d)
    backward_and_step(d_parts["d_total"], opt_d, precision=precision_d, grad_clip=clip_d, sync=sync)
    parts.update(d_parts)
    return {k: v.detach() for k, v in parts.items()}
