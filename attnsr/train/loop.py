"""The training loop: build everything from a :class:`TrainConfig`, then call one step per iteration.

``train(cfg)`` is the whole library entry point (the CLI only parses YAML into the config). Per
iteration k (1-based): set the learning rate of iteration k, run :func:`sr_step` or :func:`gan_step`,
update the EMA; every ``log_every`` log, every ``val.every`` validate (rank 0), every ``save_every`` (and
at a new best and at the end) write a checkpoint (rank 0). Data of iteration k depends only on
(seed, k), so a resumed run continues bit-for-bit on CPU.
"""

from __future__ import annotations

import json
import logging
import math
import sys
import time
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from attnsr.data import StreamBatchSampler, build_dataset, list_images, make_loader
from attnsr.errors import AttnsrError, CheckpointError, ConfigError
from attnsr.train import checkpoint as ckpt
from attnsr.train import distributed as ddp
from attnsr.train.config import TrainConfig, config_to_dict, dump_config
from attnsr.train.losses import LPIPSLoss, PerceptualLoss, load_vgg19, pixel_loss
from attnsr.train.optim import ModelEMA, build_optimizer, lr_at, set_lr
from attnsr.train.steps import GanNets, Precision, gan_step, sr_step

log = logging.getLogger("attnsr.train")


@dataclass
class Run:
    """Everything a run mutates, in one place (built by :func:`build_run`)."""

    cfg: TrainConfig
    ctx: ddp.DistContext
    device: torch.device
    generator: nn.Module
    step_model: nn.Module  # the generator, DDP-wrapped in distributed sr runs
    opt_g: torch.optim.Optimizer
    prec_g: Precision
    discriminator: nn.Module | None = None
    opt_d: torch.optim.Optimizer | None = None
    prec_d: Precision | None = None
    ema: ModelEMA | None = None
    perceptual: nn.Module | None = None
    iteration: int = 0
    best_psnr: float = -math.inf
    best_iteration: int = 0
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass(frozen=True)
class TrainResult:
    iteration: int
    best_psnr: float | None
    last_checkpoint: Path | None
    history: list[dict[str, float]]
    #: True when ``should_stop`` ended the run before ``iterations`` (a checkpoint of that iteration is saved)
    stopped: bool = False


def _precision(amp: str, device: torch.device) -> Precision:
    if amp == "none":
        return Precision(device.type)
    if device.type != "cuda":
        raise ConfigError(f"amp: {amp} mixed precision runs on CUDA only; set amp: none on {device.type}")
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return Precision("cuda", dtype, torch.amp.GradScaler("cuda") if amp == "fp16" else None)


def _build_network(name: str, scale: int, options: dict[str, Any], pretrained: str, what: str,
                   strict: bool = True, options_key: str = "model.options",
                   pretrained_key: str = "model.pretrained") -> nn.Module:
    """Network ``name`` (``what``: its config key, e.g. ``model``), from ``pretrained`` when given. Errors
    name the key: ``model.options.n_feats`` for a wrong type, ``model.pretrained`` for a file of another
    network, scale or configuration (checked before any weight is copied)."""
    from attnsr.models import create, from_official, get_entry
    from attnsr.models.checkpoint import load_matching
    from attnsr.models.registry import check_type

    try:
        hints = typing.get_type_hints(get_entry(name).config_cls)
        for key, value in options.items():  # before any file is read
            if key in hints:
                check_type(value, hints[key], f"{options_key}.{key}", name)
        if pretrained and strict:
            try:
                return from_official(pretrained, arch=name, scale=scale, **options).train()
            except AttnsrError as exc:
                raise ConfigError(f"{pretrained_key}: {exc} (the recipe asks for {name} x{scale}"
                                  + (f" with {options}" if options else "") + ")") from None
        model = create(name, scale=scale, **options)
        if pretrained:
            try:
                loaded, kept = load_matching(model, pretrained)
            except AttnsrError as exc:
                raise ConfigError(f"{pretrained_key}: {exc} (pretrained_strict: false)") from None
            print(f"{what}: {len(loaded)} tensors from {pretrained}, {len(kept)} freshly initialised"
                  + (f" ({', '.join(kept[:4])}{' ...' if len(kept) > 4 else ''})" if kept else ""), file=sys.stderr)
        return model
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"{what}: {exc.args[0] if exc.args else exc}") from None


def _share_extractor(generator: nn.Module, discriminator: nn.Module) -> None:
    """Fs-SRGAN / FA+Fs: make D use the generator's extractor module (one E, two optimisers)."""
    if not (hasattr(generator, "E") and hasattr(discriminator, "E")):
        return
    g_e, d_e = getattr(generator, "E"), getattr(discriminator, "E")
    g_shapes = {k: v.shape for k, v in g_e.state_dict().items()}
    d_shapes = {k: v.shape for k, v in d_e.state_dict().items()}
    if g_shapes != d_shapes:
        raise ConfigError("gan.discriminator_options: the discriminator's extractor E differs from the "
                          "generator's (set the same nf / nb_e on both)")
    discriminator.E = generator.E


def build_run(cfg: TrainConfig, ctx: ddp.DistContext, device: torch.device) -> Run:
    """Networks, optimisers, precision, EMA and losses of ``cfg`` on ``device`` (weights not yet resumed)."""
    ckpt.seed_all(cfg.seed)  # identical initialisation on every rank; global RNGs restored on resume
    m = cfg.model
    generator = _build_network(m.name, m.scale, dict(m.options), m.pretrained, "model",
                               m.pretrained_strict).to(device).train()
    run = Run(cfg, ctx, device, generator, generator, build_optimizer(generator.parameters(), cfg.optim),
              _precision(cfg.amp, device))
    needs_vgg = cfg.gan.feature_weight > 0 if cfg.gan.enabled else cfg.loss.perceptual_weight > 0
    if needs_vgg and cfg.loss.perceptual.startswith("lpips-"):  # also the GAN's feature term
        run.perceptual = LPIPSLoss(cfg.loss.perceptual.removeprefix("lpips-")).to(device)
    elif needs_vgg:
        run.perceptual = PerceptualLoss(load_vgg19(cfg.loss.vgg_weights)).to(device)
    if cfg.gan.enabled:
        g = cfg.gan
        disc = _build_network(g.discriminator, 1, dict(g.discriminator_options), g.discriminator_pretrained,
                              "gan.discriminator", options_key="gan.discriminator_options",
                              pretrained_key="gan.discriminator_pretrained").to(device).train()
        _share_extractor(generator, disc)
        run.discriminator = disc
        run.opt_d = build_optimizer(disc.parameters(), g.optim_d)
        run.prec_d = _precision(cfg.amp, device)
        ddp.broadcast_module(generator, ctx)
        ddp.broadcast_module(disc, ctx)
    else:
        run.step_model = ddp.wrap_ddp(generator, ctx, device, probe=cfg.data.lr_patch)
    if cfg.ema_decay > 0:
        run.ema = ModelEMA(generator, cfg.ema_decay)
    return run


# ------------------------------------------------------------------------------------ checkpoints


def _weights(run: Run) -> dict[str, nn.Module]:
    out: dict[str, nn.Module] = {"generator": run.generator}
    if run.ema is not None:
        out["ema"] = run.ema.module
    if run.discriminator is not None:
        out["discriminator"] = run.discriminator
    return out


def _optimisers(run: Run) -> dict[str, Any]:
    out: dict[str, Any] = {"g": run.opt_g}
    if run.opt_d is not None:
        out["d"] = run.opt_d
    return out


def _precisions(run: Run) -> dict[str, Precision]:
    return {k: p for k, p in (("g", run.prec_g), ("d", run.prec_d)) if p is not None}


def run_state(run: Run) -> dict[str, Any]:
    """The plain-data part of a checkpoint (everything but the weights)."""
    return {
        "optimizers": {k: o.state_dict() for k, o in _optimisers(run).items()},
        "scalers": {k: p.scaler.state_dict() for k, p in _precisions(run).items() if p.scaler is not None},
        "rng": ckpt.rng_state(),
        "best": {"psnr": run.best_psnr, "iteration": run.best_iteration},
        "history": run.history,
        "config": config_to_dict(run.cfg),
    }


def save(run: Run, *, is_best: bool = False) -> Path:
    return ckpt.save_checkpoint(run.cfg.output_dir, run.iteration, models=_weights(run), state=run_state(run),
                                config_text=dump_config(run.cfg), keep_last=run.cfg.keep_last, is_best=is_best)


def restore(run: Run, folder: Path) -> None:
    """Load weights, optimiser/scaler states, RNG states and counters of checkpoint ``folder``."""
    state = ckpt.load_state(folder)
    for name, module in _weights(run).items():
        ckpt.load_weights(folder, name, module)
    for name, opt in _optimisers(run).items():
        if name not in state["optimizers"]:
            raise CheckpointError(f"{folder}: has no state for optimiser {name!r} (GAN vs PSNR run?)")
        opt.load_state_dict(state["optimizers"][name])
    for name, prec in _precisions(run).items():
        if prec.scaler is not None and name in state["scalers"]:
            prec.scaler.load_state_dict(state["scalers"][name])
    ckpt.set_rng_state(state["rng"])
    run.iteration = int(state["iteration"])
    run.best_psnr = float(state["best"]["psnr"])
    run.best_iteration = int(state["best"]["iteration"])
    run.history = list(state.get("history", []))


# ------------------------------------------------------------------------------------- validation


def load_validation(hr_dir: str, scale: int, max_images: int = 0) -> list[tuple[str, torch.Tensor, torch.Tensor]]:
    """(name, LR, HR) triples: HR modcropped to the scale, LR = MATLAB bicubic, uint8-quantised."""
    from attnsr.image.degrade import degrade
    from attnsr.image.io import read_rgb
    from attnsr.image.resize import modcrop

    files = list_images(hr_dir, what="val.hr_dir")
    files = files[:max_images] if max_images else files
    out = []
    for f in files:
        hr = modcrop(read_rgb(f), scale)
        out.append((f.stem, degrade(hr, scale, "BI", quantize=True).float(), hr))
    return out


@torch.no_grad()
def validate(model: nn.Module, images: list[tuple[str, torch.Tensor, torch.Tensor]], *, device: torch.device,
             crop_border: int, test_y: bool) -> dict[str, float]:
    """Mean PSNR/SSIM (SR clamped and rounded to uint8 by the metrics) over ``images``."""
    from attnsr.metrics import psnr, ssim

    was_training = model.training
    model.eval()
    scores = {"psnr": 0.0, "ssim": 0.0}
    for _, lr, hr in images:
        sr = model(lr[None].to(device))[0].float().cpu()
        scores["psnr"] += psnr(sr, hr, crop_border=crop_border, test_y=test_y)
        scores["ssim"] += ssim(sr, hr, crop_border=crop_border, test_y=test_y)
    model.train(was_training)
    return {k: v / len(images) for k, v in scores.items()}


# ------------------------------------------------------------------------------------------ loop


def _set_threads(cfg: TrainConfig, ctx: ddp.DistContext, device: torch.device) -> None:
    """``threads`` > 0: that many; 0 on CPU: the cores other processes leave idle (attnsr.threads), shared
    among this node's ranks."""
    from attnsr.threads import apply_default_threads, default_threads

    if cfg.threads > 0:
        torch.set_num_threads(cfg.threads)
    elif device.type == "cpu" and ctx.local_world_size > 1:
        torch.set_num_threads(max(1, default_threads() // ctx.local_world_size))
    elif device.type == "cpu":
        apply_default_threads(0)


def batch_inputs(cfg: TrainConfig, rank: int, iteration: int, lr: torch.Tensor,
                 hr: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The (LR, target) pair a step trains on. With ``data.degradation: realistic`` the loader gives HR
    patches only, and the LR is made here from the whole batch; image i of ``iteration`` on ``rank``
    draws from seed ``mix_seed(cfg.seed, iteration, rank, i)``, so a resumed run sees the same data."""
    if cfg.data.degradation != "realistic":
        return lr, hr
    from attnsr.image.realistic import degrade_realistic, mix_seed, prepare_target

    seeds = [mix_seed(cfg.seed, iteration, rank, i) for i in range(hr.shape[0])]
    real = cfg.data.realistic
    return degrade_realistic(hr, cfg.model.scale, real, seeds), prepare_target(hr, real)


def _one_step(run: Run, lr: torch.Tensor, hr: torch.Tensor) -> dict[str, torch.Tensor]:
    cfg = run.cfg
    k = run.iteration
    set_lr(run.opt_g, lr_at(cfg.optim.lr, cfg.schedule, k, cfg.iterations))
    if run.discriminator is None:
        pixel = pixel_loss(cfg.loss.pixel, eps=cfg.loss.charbonnier_eps)
        return sr_step(run.step_model, lr, hr, run.opt_g, pixel=pixel,
                       pixel_weight=cfg.loss.pixel_weight, perceptual=run.perceptual,
                       perceptual_weight=cfg.loss.perceptual_weight, precision=run.prec_g,
                       grad_clip=cfg.optim.grad_clip)
    assert run.opt_d is not None
    set_lr(run.opt_d, lr_at(cfg.gan.optim_d.lr, cfg.schedule, k, cfg.iterations))
    sync = (lambda params: ddp.average_gradients(params, run.ctx)) if run.ctx.enabled else None
    return gan_step(GanNets(run.generator, run.discriminator), lr, hr, cfg.gan, opt_g=run.opt_g, opt_d=run.opt_d,
                    perceptual=run.perceptual, precision_g=run.prec_g, precision_d=run.prec_d,
                    clip_g=cfg.optim.grad_clip, clip_d=cfg.gan.optim_d.grad_clip, sync=sync)


class _Logger:
    """Rank-0 logging: progress bar, JSON-lines file and optional TensorBoard."""

    def __init__(self, run: Run, start: int) -> None:
        from tqdm import tqdm

        cfg = run.cfg
        self.main = run.ctx.is_main
        self.bar = tqdm(total=cfg.iterations, initial=start, disable=not (self.main and cfg.progress),
                        dynamic_ncols=True, desc=cfg.name, unit="it")
        self.file = None
        self.tb = None
        if self.main:
            Path(cfg.output_dir).mkdir(parents=True, exist_ok=True)
            self.file = open(Path(cfg.output_dir) / "train_log.jsonl", "a", encoding="utf-8")
            if cfg.tensorboard:
                try:
                    from torch.utils.tensorboard import SummaryWriter
                    self.tb = SummaryWriter(str(Path(cfg.output_dir) / "tensorboard"))
                except ImportError:
                    log.warning("tensorboard is not installed (pip install 'attnsr[tensorboard]'); not logging to it")
        self.sums: dict[str, torch.Tensor] = {}
        self.times: dict[str, float] = {}
        self.count = 0
        self.t0 = time.perf_counter()

    def add(self, parts: dict[str, torch.Tensor], times: dict[str, float]) -> None:
        """One iteration's loss terms and its seconds per phase (``data_s`` making the batch's LR,
        ``step_s`` the model step)."""
        for k, v in parts.items():
            self.sums[k] = self.sums[k] + v if k in self.sums else v.clone()
        for k, t in times.items():
            self.times[k] = self.times.get(k, 0.0) + t
        self.count += 1
        self.bar.update(1)

    def flush(self, run: Run) -> None:
        values = {k: ddp.all_mean(float(v) / self.count, run.ctx, run.device) for k, v in self.sums.items()}
        rate = self.count / max(time.perf_counter() - self.t0, 1e-9)
        record = {"iteration": run.iteration, "lr": run.opt_g.param_groups[0]["lr"], "it_s": rate, **values,
                  **{k: t / self.count for k, t in self.times.items()}}
        self.sums, self.times, self.count, self.t0 = {}, {}, 0, time.perf_counter()
        if not self.main:
            return
        self.bar.set_postfix(loss=f"{values.get('total', 0.0):.4g}", lr=f"{record['lr']:.2e}")
        self.write(record)

    def write(self, record: dict[str, Any]) -> None:
        if self.file is not None:
            self.file.write(json.dumps(record) + "\n")
            self.file.flush()
        if self.tb is not None:
            for k, v in record.items():
                if k != "iteration":
                    self.tb.add_scalar(k, v, record["iteration"])

    def close(self) -> None:
        self.bar.close()
        if self.file is not None:
            self.file.close()
        if self.tb is not None:
            self.tb.close()


def _validate_and_track(run: Run, images: list, logger: _Logger) -> bool:
    """Rank 0: validate (the EMA weights when EMA is on); returns whether this is a new best."""
    model = run.ema.module if run.ema is not None else run.generator
    crop = run.cfg.val.crop_border if run.cfg.val.crop_border >= 0 else run.cfg.model.scale
    scores = validate(model, images, device=run.device, crop_border=crop, test_y=run.cfg.val.test_y)
    record = {"iteration": run.iteration, "val_psnr": scores["psnr"], "val_ssim": scores["ssim"]}
    run.history.append(record)
    logger.write(record)
    logger.bar.write(f"[{run.iteration}] val PSNR {scores['psnr']:.3f} dB  SSIM {scores['ssim']:.4f}")
    if scores["psnr"] > run.best_psnr:
        run.best_psnr, run.best_iteration = scores["psnr"], run.iteration
        return True
    return False


#: settings that never change the weights a run produces (dotted keys; a trailing dot covers a section)
WEIGHT_NEUTRAL = ("name", "output_dir", "progress", "log_every", "save_every", "keep_last", "tensorboard",
                  "data.num_workers", "val.")


def _flatten(tree: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(tree, dict):
        out: dict[str, Any] = {}
        for k, v in tree.items():
            out.update(_flatten(v, f"{prefix}{k}."))
        return out if out or not prefix else {prefix[:-1]: {}}
    return {prefix[:-1]: tree}


def resume_changes(saved: dict[str, Any], cfg: TrainConfig) -> list[str]:
    """``key: old -> new`` for every setting of ``cfg`` that differs from the checkpoint's ``saved`` config
    and can change the weights. More ``iterations`` is no change unless the schedule is stretched by
    them (cosine without a fixed period): the first iterations of a longer run are those of the shorter."""
    old, new = _flatten(saved), _flatten(config_to_dict(cfg))
    changes = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<unset>"), new.get(key, "<unset>")
        if a == b or any(key == n or (n.endswith(".") and key.startswith(n)) for n in WEIGHT_NEUTRAL):
            continue
        if key == "iterations" and not (cfg.schedule.kind == "cosine" and not cfg.schedule.period):
            continue
        changes.append(f"{key}: {a!r} -> {b!r}")
    return changes


def _start(run: Run, resume: bool | str | None, accept_changes: bool = False) -> None:
    out = Path(run.cfg.output_dir)
    if resume:
        folder = ckpt.resolve(out if resume is True else resume)
        changes = resume_changes(ckpt.load_state(folder).get("config", {}), run.cfg)
        if changes and not accept_changes:
            raise ConfigError(f"--resume: {folder} was trained with other settings ({'; '.join(changes)}); "
                              "resuming with them gives other weights than the original run would (pass "
                              "--accept-changes to resume anyway, or restore the settings)")
        if changes and run.ctx.is_main:
            print(f"resume: settings changed since {folder.name}: {'; '.join(changes)}. The run is no longer "
                  "bitwise the same as the original one", file=sys.stderr)
        restore(run, folder)
        log.info("resumed from %s at iteration %d", folder, run.iteration)
    elif ckpt.find_latest(out) is not None:
        raise ConfigError(f"output_dir: {out} already holds checkpoints; pass --resume to continue that run "
                          "or choose another output_dir")


def train(cfg: TrainConfig, *, resume: bool | str | None = None,
          should_stop: Callable[[], bool] | None = None, accept_changes: bool = False) -> TrainResult:
    """Train as ``cfg`` says; ``resume`` True = the latest checkpoint in ``cfg.output_dir``, or a path.

    Resuming with settings that change the weights (:func:`resume_changes`) raises ConfigError unless
    ``accept_changes``; then the changes are printed, with the note that the run is no longer bitwise
    the original one.

    ``should_stop`` is polled after every iteration (the CLI sets it from SIGINT/SIGTERM): when it turns
    true on any rank, a checkpoint of that iteration is saved and training returns early, so a stopped
    run resumes exactly where it stopped.
    """
    ctx = ddp.context_from_env()
    device = ddp.select_device(cfg.device, ctx)
    ddp.init(ctx, device)
    try:
        return _train(cfg, ctx, device, resume, should_stop or (lambda: False), accept_changes)
    finally:
        ddp.shutdown(ctx)


def _train(cfg: TrainConfig, ctx: ddp.DistContext, device: torch.device, resume: bool | str | None,
           should_stop: Callable[[], bool], accept_changes: bool = False) -> TrainResult:
    _set_threads(cfg, ctx, device)
    run = build_run(cfg, ctx, device)
    _start(run, resume, accept_changes)
    dataset = build_dataset(cfg.data, cfg.model.scale)
    sampler = StreamBatchSampler(len(dataset), cfg.data.batch_size, seed=cfg.seed, start_iteration=run.iteration,
                                 iterations=cfg.iterations, rank=ctx.rank, world_size=ctx.world_size)
    loader = make_loader(dataset, sampler, num_workers=cfg.data.num_workers, pin_memory=device.type == "cuda")
    images = load_validation(cfg.val.hr_dir, cfg.model.scale, cfg.val.max_images) \
        if cfg.val.hr_dir and ctx.is_main else []
    logger = _Logger(run, run.iteration)
    last: Path | None = None
    stopped = False
    try:
        for lr, hr in loader:
            run.iteration += 1
            k = run.iteration
            t0 = time.perf_counter()
            lr, hr = batch_inputs(cfg, ctx.rank, k, lr.to(device, non_blocking=True), hr.to(device, non_blocking=True))
            t1 = time.perf_counter()
            parts = _one_step(run, lr, hr)
            if run.ema is not None:
                run.ema.update(run.generator, k)
            times = {"step_s": time.perf_counter() - t1}
            if cfg.data.degradation == "realistic":
                times["degrade_s"] = t1 - t0
            logger.add(parts, times)
            if k % cfg.log_every == 0 or k == cfg.iterations:
                logger.flush(run)
            validated = bool(cfg.val.hr_dir) and (k % cfg.val.every == 0 or k == cfg.iterations)
            stopping = ddp.any_rank(should_stop(), ctx, device)
            scheduled = k % cfg.save_every == 0 or k == cfg.iterations or stopping
            best = ctx.is_main and validated and _validate_and_track(run, images, logger)
            if ctx.is_main and (best or scheduled):
                last = save(run, is_best=best)
            if validated or scheduled:  # same condition on every rank: the others wait for rank 0
                ddp.barrier(ctx)
            if stopping:
                stopped = k < cfg.iterations
                logger.bar.write(f"stopped at iteration {k}; checkpoint saved, continue with --resume")
                break
    finally:
        logger.close()
    best_psnr = run.best_psnr if run.best_iteration else None
    return TrainResult(run.iteration, best_psnr, last, run.history, stopped)
