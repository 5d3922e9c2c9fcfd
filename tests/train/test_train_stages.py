"""Staged recipes: one file runs several stages; equal to running them by hand, and resumable mid-stage."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from train_helpers import quick_overrides

from attnsr.errors import ConfigError
from attnsr.models import load_model, save_model
from attnsr.models.checkpoint import read_checkpoint
from attnsr.models.prune import prune_blocks
from attnsr.train import config_from_dict, load_config, load_plan, plan_from_dict, train, train_plan
from attnsr.train.checkpoint import find_latest, load_state

REPO = Path(__file__).resolve().parents[2]


def _base(shared: Path, out: Path) -> dict[str, Any]:
    """A tiny dfsa x2 run (2 groups x 2 blocks, 8 features) with EMA and a cosine schedule."""
    return {
        "name": "tiny", "output_dir": str(out), "seed": 3, "iterations": 2, "progress": False, "log_every": 1,
        "save_every": 1000, "keep_last": 1, "ema_decay": 0.9,
        "model": {"name": "dfsa", "scale": 2, "options": {"n_feats": 8, "n_resgroups": 2, "n_resblocks": 2,
                                                         "reduction": 4, "hpf_placement": "none"}},
        "data": {"kind": "hr_folder", "hr_dir": str(shared / "datasets" / "T91"), "lr_patch": 12, "batch_size": 2,
                 "num_workers": 0},
        "optim": {"name": "adam", "lr": 1e-3, "grad_clip": 1.0},
        "schedule": {"kind": "cosine", "eta_min": 1e-6},
    }


def _staged(shared: Path, out: Path) -> dict[str, Any]:
    """Stage a: the base for 2 iterations; stage b: from a's EMA cut to 1 block per group, 3 iterations at
    another learning rate on larger patches."""
    return {**_base(shared, out), "stages": [
        {"name": "a"},
        {"name": "b", "iterations": 3, "optim": {"lr": 5e-4}, "data": {"lr_patch": 16},
         "model": {"options": {"n_resblocks": 1}}, "init": {"weights": "ema", "prune": {"blocks": 1}}},
    ]}


def _weights(run: Path) -> dict[str, torch.Tensor]:
    folder = find_latest(run)
    assert folder is not None, run
    out: dict[str, torch.Tensor] = {}
    for f in sorted(folder.glob("*.safetensors")):
        tensors, _ = read_checkpoint(f)
        out.update({f"{f.stem}/{k}": v for k, v in tensors.items()})
    for name, opt in load_state(folder)["optimizers"].items():
        for pid, st in opt["state"].items():
            out.update({f"opt_{name}/{pid}/{k}": torch.as_tensor(v) for k, v in st.items()})
    return out


def _assert_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    changed = [k for k in a if not torch.equal(a[k], b[k])]
    assert not changed, f"{len(changed)} tensors differ, e.g. {changed[:3]}"


@pytest.fixture(scope="module")
def by_hand(shared: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, torch.Tensor]:
    """Stage a, then its EMA pruned and saved by hand, then stage b starting from that file."""
    torch.set_num_threads(1)
    tmp = tmp_path_factory.mktemp("by_hand")
    train(config_from_dict({**_base(shared, tmp / "a")}))
    ema = load_model(find_latest(tmp / "a") / "ema.safetensors")
    save_model(prune_blocks(ema, 1), tmp / "a_ema_pruned.safetensors")
    raw = _base(shared, tmp / "b")
    raw.update(iterations=3, optim={**raw["optim"], "lr": 5e-4}, data={**raw["data"], "lr_patch": 16})
    raw["model"] = {**raw["model"], "options": {**raw["model"]["options"], "n_resblocks": 1},
                    "pretrained": str(tmp / "a_ema_pruned.safetensors")}
    train(config_from_dict(raw))
    return _weights(tmp / "b")


def test_two_stage_recipe_equals_the_stages_run_by_hand(shared: Path, tmp_path: Path,
                                                         by_hand: dict[str, torch.Tensor]) -> None:
    plan = plan_from_dict(_staged(shared, tmp_path / "run"))
    assert [s.name for s in plan] == ["a", "b"]
    assert plan[1].cfg.model.options["n_resblocks"] == 1 and plan[1].cfg.model.options["n_feats"] == 8
    result = train_plan(plan)
    assert result.iteration == 3
    _assert_equal(by_hand, _weights(tmp_path / "run" / "b"))
    # finished: resuming does nothing, a fresh start is refused
    assert train_plan(plan, resume=True).iteration == 3
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        train_plan(plan)


def test_resume_in_the_middle_of_stage_two_equals_uninterrupted(shared: Path, tmp_path: Path,
                                                               by_hand: dict[str, torch.Tensor]) -> None:
    plan = plan_from_dict(_staged(shared, tmp_path / "run"))
    calls: list[int] = []

    def stop_in_stage_b() -> bool:  # polled after every iteration: a has 2, so call 3 is b's first
        calls.append(1)
        return len(calls) == 3

    stopped = train_plan(plan, should_stop=stop_in_stage_b)
    assert stopped.iteration == 1 and find_latest(tmp_path / "run" / "b").name == "iter_00000001"
    assert train_plan(plan, resume=True).iteration == 3
    _assert_equal(by_hand, _weights(tmp_path / "run" / "b"))


def test_lengthened_cosine_segments_equal_a_resumed_longer_run(shared: Path, tmp_path: Path) -> None:
    """``schedule.segments: [[2, 2]]`` with 4 iterations is the run planned for 2, resumed with 4."""
    recipe = REPO / "configs" / "rcan" / "cpu_x2.yaml"
    sets = {"data.lr_patch": 12, "schedule.kind": "cosine", "optim.lr": 1e-3}
    train(load_config(recipe, quick_overrides(shared, tmp_path / "resumed", iterations=2, **sets)))
    train(load_config(recipe, quick_overrides(shared, tmp_path / "resumed", iterations=4, **sets)), resume=True,
          accept_changes=True)  # a lengthened schedule is a change the trainer reports
    train(load_config(recipe, quick_overrides(shared, tmp_path / "segments", iterations=4,
                                              **sets, **{"schedule.segments": "[[2, 2]]"})))
    _assert_equal(_weights(tmp_path / "resumed"), _weights(tmp_path / "segments"))
    plain = tmp_path / "plain"  # and the segments matter: without them the run differs
    train(load_config(recipe, quick_overrides(shared, plain, iterations=4, **sets)))
    a, b = _weights(plain), _weights(tmp_path / "segments")
    assert any(not torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("change, words", [
    (lambda r: r["stages"][0].update(init={}), "stages[0].init: the first stage"),
    (lambda r: r["stages"][1].pop("name"), "stages[1].name"),
    (lambda r: r["stages"].append({"name": "a"}), "'a' is used twice"),
    (lambda r: r["stages"][1]["init"].update(colour=1), "unknown config key stages[1].init.colour"),
    (lambda r: r["stages"][1]["init"].update({"from": "zzz"}), "stages[1].init.from: 'zzz' is not an earlier stage"),
    (lambda r: r["stages"][1]["model"].update(pretrained="x.safetensors"), "stages[1].model.pretrained"),
    (lambda r: r["stages"][1].update(optim={"lr": "fast"}), "stages[1]: optim.lr: expected a number"),
    (lambda r: r["stages"][1].update(output_dir="elsewhere"), "stages[1].output_dir"),
    (lambda r: r.update(ema_decay=0.0), "stages[1].init.weights: stage 'a' keeps no EMA"),
])
def test_bad_stages_are_refused_naming_the_key(shared: Path, tmp_path: Path, change, words: str) -> None:
    raw = _staged(shared, tmp_path / "run")
    change(raw)
    with pytest.raises(ConfigError) as err:
        plan_from_dict(raw, source="recipe.yaml")
    assert str(err.value).startswith("recipe.yaml: ") and words in str(err.value), str(err.value)


def test_set_reaches_one_stage_and_the_base(shared: Path, tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "staged.yaml"
    path.write_text(yaml.safe_dump(_staged(shared, tmp_path / "run")))
    plan = load_plan(path, ["stages.1.iterations=7", "optim.grad_clip=0.5"])
    assert [s.cfg.iterations for s in plan] == [2, 7]
    assert [s.cfg.optim.grad_clip for s in plan] == [0.5, 0.5]
    assert plan[1].cfg.output_dir == str(tmp_path / "run" / "b")
    with pytest.raises(ConfigError, match="stages.5"):
        load_plan(path, ["stages.5.iterations=7"])
    with pytest.raises(ConfigError, match="staged recipe"):
        load_config(path)


def test_staged_recipe_through_the_cli(shared: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import yaml

    from attnsr.cli.main import main

    path = tmp_path / "staged.yaml"
    path.write_text(yaml.safe_dump(_staged(shared, tmp_path / "run")))
    assert main(["train", str(path), "--set", "stages.1.iterations=1"]) == 0
    assert find_latest(tmp_path / "run" / "b").name == "iter_00000001"
    assert main(["train", str(path)]) == 2  # a fresh start over existing stages is refused in one line
    err = capsys.readouterr().err.strip().splitlines()
    assert "already holds checkpoints" in err[-1]
    assert main(["train", str(path), "--resume", str(tmp_path / "run" / "a")]) == 2  # no per-stage paths


@pytest.mark.parametrize("recipe", sorted((REPO / "configs" / "bundled").glob("*.yaml")), ids=lambda p: p.stem)
def test_bundled_recipe_stages_fit_each_other(recipe: Path) -> None:
    """Each later stage's network takes its source stage's weights: strictly (after the declared cut) or,
    with strict: false, at least the body."""
    from attnsr.models import create

    plan = load_plan(recipe)
    nets = {}
    for stage in plan:
        m = stage.cfg.model
        nets[stage.name] = create(m.name, scale=m.scale, **dict(m.options))
        if stage.init is None:
            continue
        source = nets[stage.init.from_stage]
        if stage.init.prune.blocks:
            source = prune_blocks(source, stage.init.prune.blocks, stage.init.prune.groups)
        theirs = {k: tuple(v.shape) for k, v in source.state_dict().items()}
        ours = {k: tuple(v.shape) for k, v in nets[stage.name].state_dict().items()}
        if stage.init.strict:
            assert theirs == ours, stage.name
        else:
            shared_keys = [k for k in ours if theirs.get(k) == ours[k]]
            assert len(shared_keys) > 0.9 * len(ours), stage.name
    assert Path(plan[-1].cfg.output_dir).parts[:3] == ("runs", "bundled", recipe.stem)
