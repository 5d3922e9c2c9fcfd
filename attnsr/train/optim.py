"""Optimisers (Adam, AdamW, AdamP), the learning-rate schedule as a pure function, and the weight EMA.

The schedule is a function of the iteration number rather than a stateful scheduler object, so resuming
needs nothing but the iteration count (and the result is identical to the uninterrupted run).
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from attnsr.errors import ConfigError
from attnsr.train.config import OptimConfig, ScheduleConfig


class AdamP(torch.optim.Optimizer):
    """AdamP (Heo et al., ICLR 2021): Adam whose update loses its radial component for parameters that
    look scale-invariant (e.g. weight-normalised ``weight_v``), which FSANet's recipe relies on.

    For each multi-dimensional parameter the cosine similarity between gradient and weight is checked
    per output channel, then over the whole tensor; if its maximum is below ``delta / sqrt(dim)`` the
    update is projected onto the tangent space of the weight and weight decay is scaled by ``wd_ratio``.
    Defaults are those of the ``adamp`` package the official code used.
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, delta: float = 0.1, wd_ratio: float = 0.1,
                 nesterov: bool = False) -> None:
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, delta=delta,
                        wd_ratio=wd_ratio, nesterov=nesterov)
        super().__init__(params, defaults)

    @staticmethod
    def _project(p: torch.Tensor, grad: torch.Tensor, perturb: torch.Tensor, delta: float,
                 eps: float) -> tuple[torch.Tensor, bool]:
        """Remove the radial part of ``perturb`` if ``p`` is scale-invariant; returns (update, projected)."""
        shape = [-1] + [1] * (p.dim() - 1)
        for rows in (p.shape[0], 1):  # per output channel, then the whole tensor as one vector
            g, w = grad.reshape(rows, -1), p.reshape(rows, -1)
            cos = F.cosine_similarity(g, w, dim=1, eps=eps).abs()
            if cos.max() < delta / math.sqrt(w.shape[1]):
                unit = p / w.norm(dim=1).add(eps).view(shape if rows > 1 else [1] * p.dim())
                radial = (unit * perturb).reshape(rows, -1).sum(dim=1)
                radial = radial.view(shape if rows > 1 else [1] * p.dim())
                return perturb - unit * radial, True
        return perturb, False

    @torch.no_grad()
    def step(self, closure=None):
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            beta1, beta2 = group["betas"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)
                    state["exp_avg_sq"] = torch.zeros_like(p)
                state["step"] += 1
                exp_avg, exp_avg_sq = state["exp_avg"], state["exp_avg_sq"]
                exp_avg.mul_(beta1).add_(grad, alpha=1 - beta1)
                exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
                denom = (exp_avg_sq.sqrt() / math.sqrt(1 - beta2 ** state["step"])).add_(group["eps"])
                if group["nesterov"]:
                    perturb = (beta1 * exp_avg + (1 - beta1) * grad) / denom
                else:
                    perturb = exp_avg / denom
                wd = 1.0
                if p.dim() > 1:
                    perturb, projected = self._project(p, grad, perturb, group["delta"], group["eps"])
                    wd = group["wd_ratio"] if projected else 1.0
                if group["weight_decay"] > 0:
                    p.mul_(1 - group["lr"] * group["weight_decay"] * wd)
                p.add_(perturb, alpha=-group["lr"] / (1 - beta1 ** state["step"]))
        return loss


def build_optimizer(params: Iterable[torch.Tensor], cfg: OptimConfig) -> torch.optim.Optimizer:
    """The optimiser of ``cfg`` over the parameters that require gradients (frozen MeanShift excluded)."""
    trainable = [p for p in params if p.requires_grad]
    if not trainable:
        raise ConfigError("optim: the model has no trainable parameters")
    common: dict[str, Any] = dict(lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay)
    if cfg.name == "adam":
        return torch.optim.Adam(trainable, **common, foreach=None)
    if cfg.name == "adamw":
        return torch.optim.AdamW(trainable, **common, foreach=None)
    if cfg.name == "adamp":
        return AdamP(trainable, **common, delta=cfg.delta, wd_ratio=cfg.wd_ratio, nesterov=cfg.nesterov)
    raise ConfigError(f"optim.name: unknown optimiser {cfg.name!r}; use adam, adamw or adamp")


def lr_at(base_lr: float, cfg: ScheduleConfig, iteration: int, total: int) -> float:
    """Learning rate used at 1-based ``iteration`` of a ``total``-iteration run."""
    if cfg.kind == "constant":
        return base_lr
    if cfg.kind == "multistep":
        passed = sum(1 for m in cfg.milestones if m < iteration)
        return base_lr * cfg.gamma ** passed
    if cfg.kind == "cosine":
        period = next((p for until, p in cfg.segments if iteration <= until), cfg.period or total)
        t = min(iteration - 1, period) / period
        return cfg.eta_min + (base_lr - cfg.eta_min) * 0.5 * (1.0 + math.cos(math.pi * t))
    raise ConfigError(f"schedule.kind: unknown schedule {cfg.kind!r}")


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


class ModelEMA:
    """Exponential moving average of a model's parameters (buffers are copied, not averaged).

    ``ema = d * ema + (1 - d) * current`` after optimiser step k, with ``d = min(decay, (1 + k) / (10 + k))``:
    the warm-up keeps early averages from being dominated by the random initialisation (with a plain 0.999
    the average still holds 0.999^500 = 61% of the initial weights after 500 steps). The averaged copy is
    what validation and the exported weights use when EMA is on.
    """

    def __init__(self, model: nn.Module, decay: float) -> None:
        self.decay = decay
        self.module = copy.deepcopy(model).eval().requires_grad_(False)

    def decay_at(self, step: int) -> float:
        """The decay used after optimiser step ``step`` (1-based)."""
        return min(self.decay, (1.0 + step) / (10.0 + step))

    @torch.no_grad()
    def update(self, model: nn.Module, step: int) -> None:
        ema_params: list[torch.Tensor] = list(self.module.parameters())
        params = [p.detach() for p in model.parameters()]
        torch._foreach_lerp_(ema_params, params, 1.0 - self.decay_at(step))
        for b_ema, b in zip(self.module.buffers(), model.buffers()):
            b_ema.copy_(b)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.module.state_dict()

    def load_state_dict(self, sd: dict[str, torch.Tensor]) -> None:
        self.module.load_state_dict(sd)
