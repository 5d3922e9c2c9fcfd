"""Acceptance: every network's CPU recipe runs a few iterations and the loss stays finite."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from train_helpers import quick_overrides

from attnsr.train import load_config, train

REPO = Path(__file__).resolve().parents[2]
CPU_RECIPES = sorted((REPO / "configs").glob("*/cpu_*.yaml"))


def test_every_network_has_recipes() -> None:
    folders = {p.parent.name for p in CPU_RECIPES}
    assert folders >= {"fsanet", "hspan", "defian", "rcan", "dfsa", "fasrgan", "fssrgan", "fafssrgan"}
    for folder in folders:
        assert list((REPO / "configs" / folder).glob("official_*.yaml")), folder


@pytest.mark.parametrize("recipe", CPU_RECIPES, ids=lambda p: p.parent.name)
def test_cpu_recipe_runs_with_finite_loss(recipe: Path, shared: Path, tmp_path: Path, random_vgg: Path) -> None:
    sets = {"loss.vgg_weights": random_vgg, "data.lr_patch": 12}
    if "gan:" in recipe.read_text():  # x4 GAN recipes: HR 32 patches, the D built for that size
        sets.update({"data.lr_patch": 8, "gan.discriminator_options.patch_size": 32})
    cfg = load_config(recipe, quick_overrides(shared, tmp_path / "run", **sets))
    result = train(cfg)
    assert result.iteration == 2
    records = [json.loads(line) for line in (tmp_path / "run" / "train_log.jsonl").read_text().splitlines()]
    losses = [r for r in records if "total" in r]
    assert [r["iteration"] for r in losses] == [1, 2]
    for r in losses:
        assert all(math.isfinite(v) for v in r.values()), r
        if cfg.gan.enabled:
            assert {"adv", "fea", "d_total"} <= set(r)
    assert (result.last_checkpoint / "generator.safetensors").is_file()


ALL_RECIPES = sorted((REPO / "configs").rglob("*.yaml"))


@pytest.mark.parametrize("recipe", ALL_RECIPES, ids=lambda p: str(p.relative_to(REPO / "configs")))
def test_every_recipe_parses_and_builds(recipe: Path) -> None:
    """Every YAML under configs/ is a valid typed config whose networks build (on the meta device: shapes
    only) with the recipe's options; pretrained paths and data folders are not needed for this."""
    import torch

    from attnsr.models import create
    from attnsr.train import load_plan

    for stage in load_plan(recipe):  # a staged recipe: every stage (a plain one: itself)
        cfg = stage.cfg
        with torch.device("meta"):
            model = create(cfg.model.name, scale=cfg.model.scale, **cfg.model.options)
            if cfg.gan.enabled:
                create(cfg.gan.discriminator, **cfg.gan.discriminator_options)
        assert sum(p.numel() for p in model.parameters()) > 0
        assert cfg.iterations > 0 and cfg.data.batch_size > 0


@pytest.mark.parametrize(("probe", "network_of"), [
    ("probe-evaldist_x2.yaml", "bundled/attnsr-photo_x2.yaml"),
    ("probe-evaldist-large_x2.yaml", "photo/candidate-large_x2.yaml"),
])
def test_evaldist_probes_train_on_the_test_setting_itself(probe: str, network_of: str) -> None:
    """The ceiling probes' claim: their training degradations are exactly ``attnsr eval --degradation
    realistic`` (every field of the fixed setting), with no clean images mixed in, and all else is the
    shipped photo x2 recipe."""
    from attnsr.image.realistic import EVAL_REALISTIC

    cfg = load_config(REPO / "configs" / "photo" / probe)
    assert cfg.data.degradation == "realistic"
    assert cfg.data.realistic == EVAL_REALISTIC
    shipped = load_config(REPO / "configs" / "bundled" / "attnsr-photo_x2.yaml")
    assert cfg.model == load_config(REPO / "configs" / network_of).model
    assert (cfg.loss, cfg.optim, cfg.data.hr_dir, cfg.data.extra_hr_dirs) == (
        shipped.loss, shipped.optim, shipped.data.hr_dir, shipped.data.extra_hr_dirs)
