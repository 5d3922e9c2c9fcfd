"""The tools under scripts/ and benchmarks/: bundle_models.py ships a staged run's last EMA; run_all.sh runs
every benchmark."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
from pathlib import Path

import pytest
import torch
import yaml

from attnsr.models.checkpoint import read_checkpoint
from attnsr.train import load_plan, train_plan

REPO = Path(__file__).resolve().parents[1]


def _module(path: Path):
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bundle_models_ships_the_last_stage_ema_with_provenance(shared: Path, tmp_path: Path) -> None:
    recipe = {
        "name": "tiny_x2", "output_dir": str(tmp_path / "runs" / "tiny_x2"), "seed": 1, "progress": False,
        "log_every": 1, "save_every": 1000, "ema_decay": 0.9, "threads": 1,
        "model": {"name": "dfsa", "scale": 2, "options": {"n_feats": 8, "n_resgroups": 1, "n_resblocks": 2,
                                                         "reduction": 4, "hpf_placement": "none"}},
        "data": {"hr_dir": str(shared / "datasets" / "T91"), "lr_patch": 12, "batch_size": 2, "num_workers": 0},
        "optim": {"lr": 1e-3}, "schedule": {"kind": "cosine"},
        "stages": [{"name": "a", "iterations": 2}, {"name": "b", "iterations": 1, "init": {"weights": "ema"}}],
    }
    (tmp_path / "recipes").mkdir()
    (tmp_path / "recipes" / "tiny_x2.yaml").write_text(yaml.safe_dump(recipe))
    train_plan(load_plan(tmp_path / "recipes" / "tiny_x2.yaml"))
    tool = _module(REPO / "scripts" / "bundle_models.py")
    assert tool.main(["--runs", str(tmp_path / "runs"), "--recipes", str(tmp_path / "recipes"), "--name", "tiny",
                      "--scales", "2", "--models-dir", str(tmp_path / "models"),
                      "--reference", str(tmp_path / "ref.json")]) == 0
    shipped, meta = read_checkpoint(tmp_path / "models" / "tiny_x2.safetensors")
    ema, _ = read_checkpoint(tmp_path / "runs" / "tiny_x2" / "b" / "checkpoints" / "iter_00000001" / "ema.safetensors")
    assert shipped.keys() == ema.keys() and all(torch.equal(shipped[k], ema[k]) for k in ema)
    assert meta["iterations"] == "1" and meta["initialised_from"] == "ema of stage a"
    assert meta["recipe"].endswith("tiny_x2.yaml") and meta["weights"].startswith("EMA")
    reference = json.loads((tmp_path / "ref.json").read_text())
    assert reference["tiny_x2"]["iterations"] == 1 and reference["tiny_x2"]["shape"] == [1, 3, 48, 64]


def test_run_all_runs_every_benchmark() -> None:
    script = (REPO / "benchmarks" / "run_all.sh").read_text()
    called = set(re.findall(r"benchmarks/(\w+)\.py", script))
    present = {p.stem for p in (REPO / "benchmarks").glob("*.py")}
    assert present <= called, f"not run by run_all.sh: {sorted(present - called)}"
    assert called <= present, f"run_all.sh names missing benchmarks: {sorted(called - present)}"
    subprocess.run(["bash", "-n", str(REPO / "benchmarks" / "run_all.sh")], check=True)


def test_run_all_quick_mode_calls_each_benchmark_once(tmp_path: Path) -> None:
    """With PYTHON=echo the script prints the command lines it would run: one per benchmark, quick sizes."""
    env = {"PATH": "/usr/bin:/bin", "PYTHON": "echo", "BENCH_OUT": str(tmp_path)}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "run_all.sh"), "--quick", "/data/shared"], env=env,
                          capture_output=True, text=True, check=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("benchmarks/")]
    scripts = [line.split()[0] for line in lines]
    expected = [f"benchmarks/{p.name}" for p in (REPO / "benchmarks").glob("*.py")]
    expected.append("benchmarks/upscale_memory.py")  # run twice: 4000x3000 and 1 MP
    expected.append("benchmarks/hspan_attention.py")  # run twice: the attention layers and --whole
    assert sorted(scripts) == sorted(expected)
    assert all("--minutes 1" in line for line in lines if "train.py" in line or "_candidates" in line
               or "seeds" in line)
    assert "--size 1000x750" in done.stdout and "/data/shared/datasets/Set14" in done.stdout
    assert (tmp_path / "infer.txt").is_file()


def test_realistic_components_switches_off_exactly_the_steps_left_out() -> None:
    """benchmarks/realistic_components.py: with every step the eval setting itself; with none, a flat grey
    image stays flat (no noise, no JPEG ringing); noise alone changes it; JPEG alone keeps it flat."""
    from attnsr.image.realistic import EVAL_REALISTIC, degrade_realistic

    tool = _module(REPO / "benchmarks" / "realistic_components.py")
    assert tool.restricted(EVAL_REALISTIC, set(tool.STEPS)) == EVAL_REALISTIC
    grey = torch.full((4, 3, 32, 32), 128 / 255)
    seeds = [1, 2, 3, 4]
    for keep, flat in ((set(), True), ({"blur"}, True), ({"jpeg"}, True), ({"noise"}, False)):
        lr = degrade_realistic(grey, 2, tool.restricted(EVAL_REALISTIC, keep), seeds)
        assert (float((lr - 128 / 255).abs().max()) < 1e-6) is flat, keep
    with pytest.raises(ValueError, match="sharpen"):
        tool.restricted(EVAL_REALISTIC, {"sharpen"})


def test_photo_candidates_train_on_t91_alone_unless_set_adds_the_extra_photos(tmp_path: Path) -> None:
    """benchmarks/photo_candidates.py keeps its documented comparisons on T91 although the shipped photo recipe
    also trains on data/extra-photos; ``--set`` brings them back."""
    tool = _module(REPO / "benchmarks" / "photo_candidates.py")
    assert yaml.safe_load(tool.RECIPE.read_text())["data"]["extra_hr_dirs"] == ["data/extra-photos"]
    plain = tool.recipe_dict(tmp_path / "t91", tmp_path / "out", "srvgg", {}, 10, 0.5)
    assert "extra_hr_dirs" not in plain["data"] and plain["data"]["hr_dir"] == str(tmp_path / "t91")
    added = tool.recipe_dict(tmp_path / "t91", tmp_path / "out", "srvgg", {}, 10, 0.5,
                             ("data.extra_hr_dirs=[data/extra-photos]",))
    assert added["data"]["extra_hr_dirs"] == ["data/extra-photos"]
