"""Typed training configuration: frozen dataclasses, built from plain dicts (YAML) with strict key checks.

The YAML file is parsed only at the CLI edge (:func:`load_config`); everything below the CLI receives a
:class:`TrainConfig`. Unknown keys, wrong types and invalid values raise :class:`ConfigError` naming the
dotted key (``optim.lr``) and, when known, the file.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from attnsr.errors import ConfigError
from attnsr.image.realistic import RealisticConfig


@dataclass(frozen=True)
class ModelConfig:
    """The network to train. ``options`` are registry config overrides (e.g. reduced width for tests)."""

    name: str = "hspan"
    scale: int = 4
    options: Mapping[str, Any] = field(default_factory=dict)
    #: PSNR-oriented checkpoint to start from (official or attnsr format); "" = random initialisation.
    pretrained: str = ""
    #: false: copy only the tensors whose key and shape match (e.g. x3/x4 from the x2 model: the
    #: upsampler is re-initialised), as RCAN/DFSA/EDSR recipes do; true: load strictly.
    pretrained_strict: bool = True


@dataclass(frozen=True)
class DataConfig:
    """Training data. ``kind``: ``hr_folder`` (LR made on the fly), ``paired`` (LR/HR folders, same file
    names) or ``h5`` (FSANet layout: groups HR and X<scale>, one uint8 HxWx3 dataset per image)."""

    kind: str = "hr_folder"
    hr_dir: str = ""
    lr_dir: str = ""
    h5_path: str = ""
    #: the official FSANet ``div2h5.py`` stored OpenCV's BGR order; ``attnsr prepare-h5`` stores RGB.
    h5_bgr: bool = False
    #: on-the-fly degradation for ``hr_folder``: BI, BD or DN (see attnsr.image.degrade), or
    #: ``realistic``: the blind pipeline of ``realistic`` below, applied to each batch in the loop.
    degradation: str = "BI"
    #: the realistic pipeline (attnsr.image.realistic; defaults: Real-ESRGAN's paper settings).
    realistic: RealisticConfig = field(default_factory=RealisticConfig)
    #: LR patch side in pixels; the HR patch is ``lr_patch * scale``.
    lr_patch: int = 48
    #: global batch size (split evenly over DDP ranks).
    batch_size: int = 16
    augment: bool = True
    num_workers: int = 2
    #: keep decoded images (uint8) in memory in each worker; right for small sets such as T91.
    cache: bool = False
    #: ``hr_folder`` only: train on each HR image at each of these scales (MATLAB bicubic; 1.0 = the file
    #: as is), as FSRCNN did with T91 (1.0, 0.9, 0.8, 0.7, 0.6); copies too small for a patch are left out.
    #: Without ``cache`` every patch of a copy downscales its whole image: meant for small sets.
    hr_rescale: tuple[float, ...] = (1.0,)
    #: ``hr_folder`` only: more folders of HR images, used like ``hr_dir`` (its images first, then each of
    #: these folders' in order), e.g. the registry-shipped photos of ``data/extra-photos``.
    extra_hr_dirs: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValConfig:
    """Validation on a folder of HR images (LR = MATLAB bicubic of the modcropped HR)."""

    hr_dir: str = ""
    every: int = 1000
    #: pixels shaved at each border before PSNR/SSIM; -1 means ``scale``.
    crop_border: int = -1
    test_y: bool = True
    #: validate on at most this many images (0 = all), sorted by file name.
    max_images: int = 0


@dataclass(frozen=True)
class LossConfig:
    """Pixel loss plus an optional perceptual loss: ``vgg19`` (ESRGAN's: L1 of VGG19 conv5_4 features
    before ReLU, ImageNet normalisation; needs ``vgg_weights``) or ``lpips-vgg`` / ``lpips-alex`` (the
    LPIPS distance itself, from the installed LPIPS assets)."""

    pixel: str = "l1"
    pixel_weight: float = 1.0
    charbonnier_eps: float = 1e-3
    perceptual: str = "vgg19"
    perceptual_weight: float = 0.0
    #: torchvision-layout VGG19 state dict (``features.<i>.weight``), .pth or .safetensors.
    vgg_weights: str = ""


@dataclass(frozen=True)
class OptimConfig:
    """Optimiser. AdamP's ``delta``/``wd_ratio``/``nesterov`` are ignored by Adam and AdamW."""

    name: str = "adam"
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.999)
    eps: float = 1e-8
    weight_decay: float = 0.0
    delta: float = 0.1
    wd_ratio: float = 0.1
    nesterov: bool = False
    #: total-norm gradient clipping over all parameters; 0 = off.
    grad_clip: float = 0.0


@dataclass(frozen=True)
class ScheduleConfig:
    """Learning-rate schedule as a function of the 1-based iteration k.

    multistep: ``lr * gamma ** #{m in milestones : m < k}``; cosine: from lr down to ``eta_min`` over
    ``period`` iterations (0 = the whole run); constant.
    """

    kind: str = "multistep"
    milestones: tuple[int, ...] = ()
    gamma: float = 0.5
    eta_min: float = 0.0
    period: int = 0
    #: cosine only: ``[until, period]`` pairs, increasing in ``until``: iterations k <= until use that
    #: period (the first pair that covers k), later ones ``period`` / the whole run. This is the schedule of
    #: a run that was lengthened while it ran (``--resume --set iterations=N`` at iteration ``until``):
    #: each lengthening continues from that point of the longer cosine (a warm restart when it had ended).
    segments: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class GanConfig:
    """Adversarial training as in the FASRGAN/Fs-SRGAN code (spec fasrgan.md section 5)."""

    enabled: bool = False
    discriminator: str = ""
    discriminator_options: Mapping[str, Any] = field(default_factory=dict)
    discriminator_pretrained: str = ""
    pixel_weight: float = 0.01
    feature_weight: float = 1.0
    gan_weight: float = 0.005
    #: per-pixel BCE on the U-Net map (FASRGAN); used only when D returns a map.
    map_weight: float = 0.005
    #: fine-grained attention term weight (FASRGAN 0.05, FA+Fs 0.01); needs a map.
    attention_weight: float = 0.05
    optim_d: OptimConfig = field(default_factory=OptimConfig)


@dataclass(frozen=True)
class TrainConfig:
    """Everything one training run needs."""

    name: str = "run"
    output_dir: str = "runs/run"
    seed: int = 0
    iterations: int = 1000
    device: str = "auto"
    #: mixed precision on CUDA only: none, bf16 or fp16 (fp16 uses a gradient scaler).
    amp: str = "none"
    #: CPU threads for torch (0 = automatic: the usable cores not kept busy by other processes, at least 1;
    #: attnsr/threads.py).
    threads: int = 0
    log_every: int = 100
    save_every: int = 1000
    keep_last: int = 3
    #: EMA decay of the generator weights; 0 = no EMA.
    ema_decay: float = 0.0
    progress: bool = True
    tensorboard: bool = False
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    val: ValConfig = field(default_factory=ValConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    gan: GanConfig = field(default_factory=GanConfig)


_CHOICES: dict[str, tuple[str, ...]] = {
    "data.kind": ("hr_folder", "paired", "h5"),
    "data.degradation": ("BI", "BD", "DN", "realistic"),
    "loss.pixel": ("l1", "mse", "charbonnier"),
    "loss.perceptual": ("vgg19", "lpips-vgg", "lpips-alex"),
    "optim.name": ("adam", "adamw", "adamp"),
    "gan.optim_d.name": ("adam", "adamw", "adamp"),
    "schedule.kind": ("multistep", "cosine", "constant"),
    "amp": ("none", "bf16", "fp16"),
}


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """Convert a YAML value to the annotated type ``tp`` or raise naming ``key``."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return _coerce(value, args[0], key)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {type(value).__name__}")
        return _build(tp, value, key + ".")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true/false, got {value!r}")
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        try:
            number = float(value)
        except ValueError:
            raise ConfigError(f"{key}: expected an integer, got {value!r}") from None
        if number != int(number):
            raise ConfigError(f"{key}: expected an integer, got {value!r}")
        return int(number)
    if tp is float:
        if isinstance(value, bool):
            raise ConfigError(f"{key}: expected a number, got {value!r}")
        try:
            return float(value)  # YAML reads 1e-4 (no dot) as a string
        except (TypeError, ValueError):
            raise ConfigError(f"{key}: expected a number, got {value!r}") from None
    if tp is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise ConfigError(f"{key}: expected a string, got {value!r}")
    if origin is tuple:
        if not isinstance(value, Sequence) or isinstance(value, str):
            raise ConfigError(f"{key}: expected a list, got {value!r}")
        parts = typing.get_args(tp)
        if len(parts) == 2 and parts[1] is Ellipsis:
            return tuple(_coerce(v, parts[0], f"{key}[{i}]") for i, v in enumerate(value))
        if len(value) != len(parts):
            raise ConfigError(f"{key}: expected {len(parts)} values, got {len(value)}")
        return tuple(_coerce(v, a, f"{key}[{i}]") for i, (v, a) in enumerate(zip(value, parts)))
    if origin in (Mapping, dict) or tp in (Mapping, dict):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key}: expected a mapping, got {value!r}")
        return dict(value)
    return value


def _build(cls: type, raw: Mapping[str, Any], prefix: str = "") -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise ConfigError(f"unknown config key {prefix}{unknown[0]!s}" + (f" (and {unknown[1:]})" if unknown[1:]
                          else "") + f"; valid keys under {prefix or 'the top level'}: {names}")
    kwargs = {k: _coerce(v, hints[k], prefix + k) for k, v in raw.items()}
    for k, v in kwargs.items():
        choices = _CHOICES.get(prefix + k)
        if choices and v not in choices:
            raise ConfigError(f"{prefix}{k}: {v!r} is not one of {list(choices)}")
    return cls(**kwargs)


def config_from_dict(raw: Mapping[str, Any], *, source: str = "config") -> TrainConfig:
    """Build and validate a :class:`TrainConfig`; errors are prefixed with ``source`` (the file)."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(raw).__name__}")
    try:
        cfg = _build(TrainConfig, raw)
        validate(cfg)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return cfg


def validate(cfg: TrainConfig) -> None:
    """Checks that need more than one field."""
    if cfg.iterations < 1:
        raise ConfigError(f"iterations: must be >= 1, got {cfg.iterations}")
    if cfg.data.lr_patch < 1 or cfg.data.batch_size < 1:
        raise ConfigError("data.lr_patch and data.batch_size must be >= 1")
    factors = cfg.data.hr_rescale
    if not factors or any(not 0.0 < f <= 1.0 for f in factors) or len(set(factors)) != len(factors):
        raise ConfigError(f"data.hr_rescale: needs distinct factors in (0, 1], got {list(factors)}")
    if factors != (1.0,) and cfg.data.kind != "hr_folder":
        raise ConfigError(f"data.hr_rescale: only for data.kind hr_folder, not {cfg.data.kind}")
    if cfg.data.extra_hr_dirs and cfg.data.kind != "hr_folder":
        raise ConfigError(f"data.extra_hr_dirs: only for data.kind hr_folder, not {cfg.data.kind}")
    if cfg.data.degradation == "realistic" and cfg.data.kind != "hr_folder":
        raise ConfigError(f"data.degradation: realistic needs data.kind hr_folder, not {cfg.data.kind}")
    if cfg.save_every < 1 or cfg.log_every < 1 or cfg.val.every < 1:
        raise ConfigError("save_every, log_every and val.every must be >= 1")
    if cfg.keep_last < 1:
        raise ConfigError(f"keep_last: must be >= 1, got {cfg.keep_last}")
    if not 0.0 <= cfg.ema_decay < 1.0:
        raise ConfigError(f"ema_decay: must be in [0, 1), got {cfg.ema_decay}")
    if cfg.gan.enabled and not cfg.gan.discriminator:
        raise ConfigError("gan.discriminator: required when gan.enabled is true")
    if list(cfg.schedule.milestones) != sorted(cfg.schedule.milestones):
        raise ConfigError(f"schedule.milestones: must be increasing, got {list(cfg.schedule.milestones)}")
    segments = cfg.schedule.segments
    if segments:
        ends = [u for u, _ in segments]
        if cfg.schedule.kind != "cosine":
            raise ConfigError(f"schedule.segments: only for schedule.kind cosine, not {cfg.schedule.kind}")
        if ends != sorted(set(ends)) or ends[0] < 1 or ends[-1] >= cfg.iterations or any(p < 1 for _, p in segments):
            raise ConfigError(f"schedule.segments: needs [until, period] pairs with until increasing in "
                              f"[1, iterations) and period >= 1, got {[list(x) for x in segments]}")


def apply_overrides(raw: dict[str, Any], assignments: Sequence[str]) -> dict[str, Any]:
    """Return a copy of ``raw`` with ``key.sub=value`` assignments applied (values parsed as YAML)."""
    out = _deep_copy(raw)
    for item in assignments:
        if "=" not in item:
            raise ConfigError(f"--set {item!r}: expected key=value (e.g. optim.lr=2e-4)")
        key, text = item.split("=", 1)
        parts = key.strip().split(".")
        node: Any = out
        for part in parts[:-1]:
            if isinstance(node, list):  # stages.1.optim.lr: an index into a list
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"--set {key}: {part!r} is not an index of its {len(node)}-item list")
                node = node[int(part)]
                continue
            child = node.setdefault(part, {})
            if not isinstance(child, (dict, list)):
                raise ConfigError(f"--set {key}: {part!r} is not a mapping")
            node = child
        if not isinstance(node, dict):
            raise ConfigError(f"--set {key}: {parts[-2] if len(parts) > 1 else key!r} is not a mapping")
        node[parts[-1]] = yaml.safe_load(text) if text.strip() else ""
    return out


def _deep_copy(raw: Any) -> Any:
    if isinstance(raw, Mapping):
        return {k: _deep_copy(v) for k, v in raw.items()}
    if isinstance(raw, list):
        return [_deep_copy(v) for v in raw]
    return raw


def load_config(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> TrainConfig:
    """Read a YAML recipe, apply ``--set`` overrides and build the typed config (a recipe with
    ``stages:`` is read with :func:`attnsr.train.stages.load_plan`)."""
    raw = read_recipe(path)
    if "stages" in raw:
        raise ConfigError(f"{path}: a staged recipe (stages:); read it with attnsr.train.load_plan")
    return config_from_dict(apply_overrides(raw, overrides), source=str(path))


def read_recipe(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The YAML mapping of a recipe file (errors name the file)."""
    p = Path(path)
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config ({exc.strerror or exc})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{p}: not valid YAML ({str(exc).splitlines()[0]})") from None
    raw = {} if raw is None else raw
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{p}: the top level must be a mapping")
    return dict(raw)


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain YAML-safe dict (tuples become lists) of any config dataclass."""
    def plain(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v
    return plain(dataclasses.asdict(cfg))


def dump_config(cfg: TrainConfig) -> str:
    """The resolved config as YAML text (what is written beside every checkpoint)."""
    return yaml.safe_dump(config_to_dict(cfg), sort_keys=False)
