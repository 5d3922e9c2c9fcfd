"""Resume equivalence: N iterations + resume + N iterations == 2N uninterrupted, bit for bit on CPU."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from train_helpers import quick_overrides

from attnsr.errors import ConfigError
from attnsr.models.checkpoint import read_checkpoint
from attnsr.train import load_config, train
from attnsr.train.checkpoint import find_latest, load_state

REPO = Path(__file__).resolve().parents[2]

CASES = {
    # sr-step: AdamP + clipping + EMA + a milestone inside the second half
    "rcan": ("configs/rcan/cpu_x2.yaml", {"optim.name": "adamp", "optim.grad_clip": 0.5, "ema_decay": 0.9,
                                          "schedule.kind": "multistep", "schedule.milestones": "[3]",
                                          "data.lr_patch": 12}),
    # the realistic pipeline: LR made per batch in the loop from per-iteration seeds (JPEG, noise, resize)
    "rcan_realistic": ("configs/rcan/cpu_x2.yaml", {"ema_decay": 0.9, "data.lr_patch": 12, "schedule.kind": "multistep",
                                                    "data.degradation": "realistic"}),
    # gan-step: two optimisers, BatchNorm running statistics in D, the VGG loss
    "fasrgan": ("configs/fasrgan/cpu_x4.yaml", {"data.lr_patch": 8, "gan.discriminator_options.patch_size": 32,
                                                "schedule.milestones": "[3]"}),
}


def _final(run: Path) -> tuple[dict[str, torch.Tensor], dict]:
    folder = find_latest(run)
    assert folder is not None
    weights: dict[str, torch.Tensor] = {}
    for f in sorted(folder.glob("*.safetensors")):
        tensors, _ = read_checkpoint(f)
        weights.update({f"{f.stem}/{k}": v for k, v in tensors.items()})
    return weights, load_state(folder)


@pytest.mark.parametrize("case", sorted(CASES))
def test_resume_equals_uninterrupted(case: str, shared: Path, tmp_path: Path, random_vgg: Path) -> None:
    recipe, sets = CASES[case]
    sets = {**sets, "loss.vgg_weights": random_vgg}
    full = load_config(REPO / recipe, quick_overrides(shared, tmp_path / "full", iterations=4, **sets))
    train(full)
    # first half without workers, second half with one worker process: the data must not care
    half = load_config(REPO / recipe, quick_overrides(shared, tmp_path / "split", iterations=2, **sets))
    train(half)
    rest = load_config(REPO / recipe, quick_overrides(shared, tmp_path / "split", iterations=4,
                                                      **{**sets, "data.num_workers": 1}))
    result = train(rest, resume=True)
    assert result.iteration == 4
    w_full, s_full = _final(tmp_path / "full")
    w_split, s_split = _final(tmp_path / "split")
    assert w_full.keys() == w_split.keys()
    changed = [k for k in w_full if not torch.equal(w_full[k], w_split[k])]
    assert not changed, f"{len(changed)} tensors differ, e.g. {changed[:3]}"
    for name, opt in s_full["optimizers"].items():
        for pid, st in opt["state"].items():
            for key, value in st.items():
                other = s_split["optimizers"][name]["state"][pid][key]
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(other)), (name, pid, key)
    assert torch.equal(s_full["rng"]["torch"], s_split["rng"]["torch"])
    # the second half really trained: the weights moved after the resume
    mid, _ = read_checkpoint(tmp_path / "split" / "checkpoints" / "iter_00000002" / "generator.safetensors")
    assert any(not torch.equal(v, w_split[f"generator/{k}"]) for k, v in mid.items())


def test_fresh_run_refuses_to_overwrite_checkpoints(shared: Path, tmp_path: Path) -> None:
    sets = {"data.lr_patch": 12}
    overrides = quick_overrides(shared, tmp_path / "run", iterations=1, **sets)
    cfg = load_config(REPO / "configs/rcan/cpu_x2.yaml", overrides)
    train(cfg)
    with pytest.raises(ConfigError, match="already holds checkpoints"):
        train(cfg)
    # resuming a finished run does nothing and keeps the checkpoint
    assert train(cfg, resume=True).iteration == 1


def test_stop_request_saves_that_iteration_and_resume_continues_exactly(shared: Path, tmp_path: Path) -> None:
    sets = {"data.lr_patch": 12}
    recipe = REPO / "configs/rcan/cpu_x2.yaml"
    train(load_config(recipe, quick_overrides(shared, tmp_path / "full", iterations=5, **sets)))
    calls = iter(range(100))
    stopped = train(load_config(recipe, quick_overrides(shared, tmp_path / "stop", iterations=5, **sets)),
                    should_stop=lambda: next(calls) >= 1)  # asked to stop during iteration 2
    assert stopped.iteration == 2
    assert (tmp_path / "stop" / "checkpoints" / "iter_00000002").is_dir()
    train(load_config(recipe, quick_overrides(shared, tmp_path / "stop", iterations=5, **sets)), resume=True)
    w_full, _ = _final(tmp_path / "full")
    w_stop, _ = _final(tmp_path / "stop")
    assert all(torch.equal(w_full[k], w_stop[k]) for k in w_full)
