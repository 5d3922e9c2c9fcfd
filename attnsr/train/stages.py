"""Multi-stage recipes: one YAML file, several training runs in a row, each starting from the one before.

A recipe with a ``stages:`` list is a base config (every key of :class:`TrainConfig`) plus stages. Each
stage is a mapping with a ``name`` (its run folder: ``<output_dir>/<name>``), an optional ``init`` (below)
and any config keys, merged into the base key by key (``model: {options: {n_resblocks: 2}}`` changes only
that option). Stage 1 starts as its config says (``model.pretrained`` or random); every later stage starts
from the last checkpoint of an earlier stage:

    init:
      from: stage1          # an earlier stage's name; default the stage before
      weights: ema          # ema (default) or generator
      strict: true          # false: copy the tensors whose key and shape fit (e.g. x3 from a x2 model)
      prune: {blocks: 2}    # cut an RCAN body to its first N blocks per group (attnsr.models.prune) first

A later stage's start weights are written to ``<output_dir>/<name>/init.safetensors`` (its
``model.pretrained``) when the stage begins. ``train_plan(plan, resume=True)`` skips finished stages,
resumes the unfinished one bit for bit (as a single run does) and starts the rest, so one command
(``attnsr train RECIPE [--resume]``) runs the whole schedule. A recipe without ``stages`` is a one-stage
plan in ``output_dir`` itself.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attnsr.errors import ConfigError
from attnsr.train import checkpoint as ckpt
from attnsr.train.config import TrainConfig, _build, apply_overrides, config_from_dict, read_recipe

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class PruneConfig:
    """Residual blocks kept per group and groups kept (the first ones; ``groups`` 0 = all)."""

    blocks: int = 0
    groups: int = 0


@dataclass(frozen=True)
class StageInit:
    """Where a later stage's weights come from: the last checkpoint of stage ``from_stage``."""

    from_stage: str = ""
    weights: str = "ema"
    strict: bool = True
    prune: PruneConfig = field(default_factory=PruneConfig)


@dataclass(frozen=True)
class Stage:
    name: str
    cfg: TrainConfig
    #: None for the first stage (and a plain recipe): it starts as its config says
    init: StageInit | None = None
    #: the folder of the stage ``init`` reads (resolved from ``init.from_stage``)
    source_dir: str = ""


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _parse_init(raw: Any, key: str, earlier: list[Stage]) -> StageInit:
    if raw is None:
        raw = {}
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{key}: expected a mapping, got {raw!r}")
    raw = dict(raw)
    unknown = sorted(set(raw) - {"from", "weights", "strict", "prune"})
    if unknown:
        raise ConfigError(f"unknown config key {key}.{unknown[0]}; valid keys under {key}: "
                          "['from', 'weights', 'strict', 'prune']")
    if "from" in raw:
        raw["from_stage"] = raw.pop("from")
    init = _build(StageInit, raw, key + ".")
    names = [s.name for s in earlier]
    source = init.from_stage or names[-1]
    if source not in names:
        raise ConfigError(f"{key}.from: {source!r} is not an earlier stage ({names})")
    if init.weights not in ("ema", "generator"):
        raise ConfigError(f"{key}.weights: {init.weights!r} is not one of ['ema', 'generator']")
    if init.weights == "ema" and next(s for s in earlier if s.name == source).cfg.ema_decay <= 0:
        raise ConfigError(f"{key}.weights: stage {source!r} keeps no EMA (ema_decay 0); use generator")
    if init.prune.blocks < 0 or init.prune.groups < 0:
        raise ConfigError(f"{key}.prune: blocks and groups must be >= 0")
    return StageInit(source, init.weights, init.strict, init.prune)


def plan_from_dict(raw: Mapping[str, Any], *, source: str = "config") -> list[Stage]:
    """The stages of a recipe (validated, every stage's config built) or a one-stage plan."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{source}: the top level must be a mapping, got {type(raw).__name__}")
    if "stages" not in raw:
        return [Stage("", config_from_dict(raw, source=source))]
    base = {k: v for k, v in raw.items() if k != "stages"}
    items = raw["stages"]
    if not isinstance(items, Sequence) or isinstance(items, str) or not items:
        raise ConfigError(f"{source}: stages: expected a non-empty list of mappings")
    name = str(base.get("name", "run"))
    out_dir = str(base.get("output_dir", f"runs/{name}"))
    plan: list[Stage] = []
    for i, item in enumerate(items):
        key = f"stages[{i}]"
        if not isinstance(item, Mapping):
            raise ConfigError(f"{source}: {key}: expected a mapping, got {item!r}")
        stage_name = item.get("name")
        if not isinstance(stage_name, str) or not _NAME.match(stage_name):
            raise ConfigError(f"{source}: {key}.name: expected a folder name (letters, digits, _ . -), "
                              f"got {stage_name!r}")
        if stage_name in {s.name for s in plan}:
            raise ConfigError(f"{source}: {key}.name: {stage_name!r} is used twice")
        for fixed in ("output_dir", "stages"):
            if fixed in item:
                raise ConfigError(f"{source}: {key}.{fixed}: set by the recipe, not per stage")
        over = {k: v for k, v in item.items() if k not in ("name", "init")}
        model_over: Mapping[str, Any] = over["model"] if isinstance(over.get("model"), Mapping) else {}
        if plan and ("pretrained" in model_over or "pretrained_strict" in model_over):
            raise ConfigError(f"{source}: {key}.model.pretrained: a later stage starts from an earlier one "
                              "(init: from / weights / strict), not from a file")
        if not plan and "init" in item:
            raise ConfigError(f"{source}: {key}.init: the first stage has no earlier stage to start from")
        try:
            init = _parse_init(item.get("init"), key + ".init", plan) if plan else None
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        merged = _merge(base, over)
        merged["name"] = f"{name}/{stage_name}"
        merged["output_dir"] = str(Path(out_dir) / stage_name)
        if init is not None:
            model = dict(merged.get("model") or {})
            model["pretrained"] = str(Path(out_dir) / stage_name / "init.safetensors")
            model["pretrained_strict"] = init.strict
            merged["model"] = model
        try:
            cfg = config_from_dict(merged, source=key)
        except ConfigError as exc:
            raise ConfigError(f"{source}: {exc}") from None
        src = str(Path(out_dir) / init.from_stage) if init is not None else ""
        plan.append(Stage(stage_name, cfg, init, src))
    return plan


def load_plan(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> list[Stage]:
    """Read a recipe (staged or not); ``--set`` overrides apply to the base config, or to one stage with
    ``stages.<index>.key=value``; a key a stage sets itself wins over the base's."""
    raw = read_recipe(path)
    return plan_from_dict(apply_overrides(raw, overrides), source=str(path))


def _finished(stage: Stage) -> int:
    """The iteration of the stage's newest checkpoint (0 when it has none)."""
    found = ckpt.list_checkpoints(stage.cfg.output_dir)
    return found[-1][0] if found else 0


def _describe_start(stage: Stage) -> str:
    if stage.init is None:
        return f"from {stage.cfg.model.pretrained}" if stage.cfg.model.pretrained else "from random initialisation"
    cut = f", cut to {stage.init.prune.blocks} blocks per group" if stage.init.prune.blocks else ""
    how = "" if stage.init.strict else " (matching tensors only)"
    return f"from the {stage.init.weights} weights of stage {stage.init.from_stage}{cut}{how}"


def write_init(stage: Stage) -> Path:
    """Write the stage's start weights (the source stage's last checkpoint, pruned when asked)."""
    from attnsr.models import load_model, save_model
    from attnsr.models.prune import prune_blocks

    assert stage.init is not None
    folder = ckpt.find_latest(stage.source_dir)
    if folder is None:
        raise ConfigError(f"stage {stage.name}: stage {stage.init.from_stage!r} has no checkpoint in "
                          f"{stage.source_dir}")
    model = load_model(folder / f"{stage.init.weights}.safetensors")
    if stage.init.prune.blocks:
        model = prune_blocks(model, stage.init.prune.blocks, stage.init.prune.groups)
    target = Path(stage.cfg.model.pretrained)
    target.parent.mkdir(parents=True, exist_ok=True)
    save_model(model, target, extra={"stage_init_from": str(folder / f"{stage.init.weights}.safetensors")})
    return target


def train_plan(plan: Sequence[Stage], *, resume: bool | str | None = None,
               should_stop: Callable[[], bool] | None = None, accept_changes: bool = False) -> Any:
    """Run every stage in order (see the module docstring); returns the last run's ``TrainResult``.

    A stopped stage (``should_stop``) ends the plan early; ``resume=True`` continues it. A plain recipe
    (one stage) takes ``resume`` as :func:`attnsr.train.train` does, including a checkpoint path.
    """
    from attnsr.train.loop import train

    if len(plan) == 1 and plan[0].init is None:
        return train(plan[0].cfg, resume=resume, should_stop=should_stop, accept_changes=accept_changes)
    if resume not in (None, False, True):
        raise ConfigError("--resume: a staged recipe resumes from its own output_dir (no checkpoint path)")
    done = [_finished(s) for s in plan]
    if not resume and any(done):
        first = next(s for s, d in zip(plan, done) if d)
        raise ConfigError(f"output_dir: {first.cfg.output_dir} already holds checkpoints; pass --resume to "
                          "continue that run or choose another output_dir")
    if resume and not any(done):
        raise ConfigError(f"--resume: no stage of {plan[0].cfg.name.split('/')[0]} has a checkpoint yet "
                          f"(first stage: {plan[0].cfg.output_dir})")
    result = None
    for number, (stage, iteration) in enumerate(zip(plan, done), 1):
        if iteration >= stage.cfg.iterations:
            continue
        print(f"stage {number}/{len(plan)} {stage.name}: " + (f"resuming at iteration {iteration}" if iteration
              else _describe_start(stage)), file=sys.stderr)
        if iteration:
            result = train(stage.cfg, resume=True, should_stop=should_stop, accept_changes=accept_changes)
        else:
            if stage.init is not None:
                write_init(stage)
            result = train(stage.cfg, should_stop=should_stop)
        if result.iteration < stage.cfg.iterations:
            return result  # stopped: continue with --resume
    if result is None:  # every stage had finished already
        from attnsr.train.loop import TrainResult

        last = plan[-1]
        return TrainResult(done[-1], None, ckpt.find_latest(last.cfg.output_dir), [])
    return result

